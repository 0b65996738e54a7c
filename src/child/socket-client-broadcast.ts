/**
 * The per-connection process (the original's SocketClientBroadcast): read the
 * client, turn each complete line into a record on the pipe, wake the parent
 * with SIGUSR1; on the way out a `disc` record, then `_exit`.
 *
 * The child has only the thread that called fork() (docs/fork-in-node.md), so it
 * uses nothing but synchronous addon calls: no timers, promises, console.log or
 * process.exit. Its buffers are made once, so it allocates nothing per message.
 */
import type { ChildPlan } from '../contracts.js';
import * as posix from '../posix/index.js';
import { becomeChild } from './become-child.js';
import { takeProxyHeader } from './proxy-header.js';
import { CLIENT_READ_BYTES } from './serve-client.js';
import { CHILD_NAME, makeSpareKit, serve, serveSpare, SPARE_NAME, type SpareKit } from './spare.js';

/**
 * Runs the child's whole life and exits; never returns to the caller (or to the
 * event loop, which belongs to the parent).
 */
export function runChild(plan: ChildPlan): never {
  let code = 0;
  try {
    becomeChild({ parentPid: plan.parentPid, name: CHILD_NAME, closeFds: plan.closeFds });
    const { records, input, chunk } = makeSpareKit(plan, Buffer.allocUnsafe(CLIENT_READ_BYTES));
    if (takeProxyHeader(plan, records, chunk)) serve(plan, records, input, chunk);
  } catch {
    code = 1; // nothing to tell: the parent notices the exit and reaps it
  }
  return posix._exit(code);
}

/**
 * A spare child, forked before its client exists: it does a new process's setup
 * (signals, name, the first writes to the zygote's `kit`: the copy-on-write faults)
 * while nobody waits, then blocks until the parent hands it a client's socket on
 * `handoff`, and serves that client. Exits quietly if the parent closes `handoff` instead.
 */
export function runSpare(plan: ChildPlan, handoff: number, kit: SpareKit): never {
  let code = 0;
  try {
    becomeChild({ parentPid: plan.parentPid, name: SPARE_NAME, closeFds: plan.closeFds });
    serveSpare(plan, handoff, kit, posix.setProcessName);
  } catch {
    code = 1;
  }
  return posix._exit(code);
}
