/**
 * The per-connection process (the original's SocketClientBroadcast): read the
 * client, turn each complete line into a record on the pipe, wake the parent
 * with SIGUSR1; on the way out a `disc` record, then `_exit`.
 *
 * The child has only the thread that called fork() (docs/fork-in-node.md), so it
 * uses nothing but synchronous addon calls: no timers, promises, console.log or
 * process.exit. Its buffers are made once, so it allocates nothing per message.
 */
import type { ChildPlan, Framing } from '../contracts.js';
import * as posix from '../posix/index.js';
import { becomeChild } from './become-child.js';
import { makeInput, type Input, type LineRecords } from './input.js';
import { takeProxyHeader } from './proxy-header.js';
import { CLIENT_READ_BYTES, serveClient } from './serve-client.js';
import { dryRun } from './warm-up.js';
import { serveWebClient } from './web-client.js';

/** A child's name in ps, top and /proc/PID/comm; a spare's until it has a client. */
export const CHILD_NAME = 'posix-client';
export const SPARE_NAME = 'posix-spare';
/** The byte that comes with a client's socket to a spare: how that client speaks... */
export const HANDOFF_BYTE: Readonly<Record<Framing, number>> = { telnet: 1, websocket: 2 };
/** ...with this bit set when the client is a trusted proxy (ChildPlan.expectProxyHeader). */
export const HANDOFF_PROXY_BIT = 4;

/** Serves the client in `plan.clientFd` as its framing says, to the end. */
function serve(plan: ChildPlan, records: LineRecords, input: Input, chunk: Buffer): void {
  if (plan.framing === 'websocket') serveWebClient(plan, records, chunk);
  else serveClient(plan, records, input, chunk);
}

/**
 * Runs the child's whole life and exits; never returns to the caller (or to the
 * event loop, which belongs to the parent).
 */
export function runChild(plan: ChildPlan): never {
  let code = 0;
  try {
    becomeChild({ parentPid: plan.parentPid, name: CHILD_NAME, closeFds: plan.closeFds });
    const { records, input } = makeInput(plan);
    const chunk = Buffer.allocUnsafe(CLIENT_READ_BYTES);
    if (takeProxyHeader(plan, records, chunk)) serve(plan, records, input, chunk);
  } catch {
    code = 1; // nothing to tell: the parent notices the exit and reaps it
  }
  return posix._exit(code);
}

/**
 * A spare child, forked before its client exists: it does a new process's setup
 * (signals, name, its buffers and objects: the copy-on-write faults) while nobody
 * waits, then blocks until the parent hands it a client's socket on `handoff`, and
 * serves that client. Exits quietly if the parent closes `handoff` instead.
 */
export function runSpare(plan: ChildPlan, handoff: number): never {
  let code = 0;
  try {
    becomeChild({ parentPid: plan.parentPid, name: SPARE_NAME, closeFds: plan.closeFds });
    const { records, input } = makeInput(plan);
    const chunk = Buffer.allocUnsafe(CLIENT_READ_BYTES);
    if (!plan.trace) dryRun(input, records, chunk);
    const byte = Buffer.alloc(16);
    const message = posix.recvFd(handoff, byte);
    posix.close(handoff);
    if (message === null || message.fd === null) return posix._exit(0);
    plan.clientFd = message.fd;
    plan.framing = ((byte[0] ?? 0) & ~HANDOFF_PROXY_BIT) === HANDOFF_BYTE.websocket ? 'websocket' : 'telnet';
    plan.expectProxyHeader = ((byte[0] ?? 0) & HANDOFF_PROXY_BIT) !== 0;
    posix.setProcessName(CHILD_NAME);
    if (takeProxyHeader(plan, records, chunk)) serve(plan, records, input, chunk);
  } catch {
    code = 1;
  }
  return posix._exit(code);
}
