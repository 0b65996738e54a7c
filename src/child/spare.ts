/**
 * A spare's life once its process is set up, shared by the spare (runSpare) and the
 * parent's warm-up, which runs it whole before the first fork so that V8 compiles it
 * once there and no child compiles it again (docs/bench.md, "The child's code"): the
 * dry run, the wait for a client on the hand-off socket, the first look for a PROXY
 * header, then serving the client in its framing.
 */
import type { ChildPlan, Framing } from '../contracts.js';
import * as posix from '../posix/index.js';
import { askForSlice, SERVING_SLICE_NS } from '../scheduling.js';
import { makeInput, type Input, type LineRecords } from './input.js';
import { takeProxyHeader } from './proxy-header.js';
import { serveClient } from './serve-client.js';
import { serveWebClient } from './web-client.js';

/** A child's name in ps, top and /proc/PID/comm; a spare's until it has a client. */
export const CHILD_NAME = 'posix-client';
export const SPARE_NAME = 'posix-spare';
/** The byte that comes with a client's socket to a spare: how that client speaks... */
export const HANDOFF_BYTE: Readonly<Record<Framing, number>> = { telnet: 1, websocket: 2 };
/** ...with this bit set when the client is a trusted proxy (ChildPlan.expectProxyHeader). */
export const HANDOFF_PROXY_BIT = 4;

/**
 * What a spare's dry run feeds its input path: lines of a typical length, so only the
 * pages a typical first line writes are copied (each one more costs every idle client a page).
 */
const DRY_RUN_TEXT = `hello there\r\n${'x'.repeat(200)}\r\n`;

/** What a child serves its client with: its records and input path, and the buffer its reads land in. */
export interface SpareKit {
  readonly records: LineRecords;
  readonly input: Input;
  readonly chunk: Buffer;
}

/**
 * A kit for children of `plan`'s kind. The zygote makes one before its first fork and
 * never uses it: each spare inherits it copy-on-write, untouched, and copies only the
 * pages it writes. A kit made in each spare would cost every idle client the pages its
 * allocations write, scattered over V8's heap and malloc's (docs/bench.md, "A spare's kit").
 * The warm-up makes one per life, so V8 learns the same shapes.
 */
export function makeSpareKit(plan: ChildPlan, chunk: Buffer): SpareKit {
  const { records, input } = makeInput(plan);
  return { records, input, chunk };
}

/** Serves the client in `plan.clientFd` as its framing says, to the end. */
export function serve(plan: ChildPlan, records: LineRecords, input: Input, chunk: Buffer): void {
  if (plan.framing === 'websocket') serveWebClient(plan, records, chunk);
  else serveClient(plan, records, input, chunk);
}

/**
 * A spare's dry run, before its client exists: two lines through the input path into
 * the batch, which is then dropped (flood-control tokens too). The pages that path
 * writes (its objects and buffers, the stack) are shared with the zygote until written,
 * and each first write copies one: done now, that is not paid for after the client has
 * arrived.
 */
export function dryRun({ input, records, chunk }: SpareKit): void {
  const length = chunk.write(DRY_RUN_TEXT, 'latin1');
  input.feed(chunk, length);
  records.discard();
}

/**
 * Waits for a client's socket on `handoff` and serves that client to the end, with `kit`,
 * whose records now carry this process's pid. Returns at once if the parent closes
 * `handoff` instead. `named` is told when the spare has its client (it renames itself);
 * the warm-up passes a function that does nothing.
 */
export function serveSpare(plan: ChildPlan, handoff: number, kit: SpareKit, named: (name: string) => void): void {
  const { records, input, chunk } = kit;
  records.ownedBy(posix.getpid());
  const byte = Buffer.alloc(16);
  let message: posix.ReceivedMessage | null;
  try {
    if (!plan.trace) dryRun(kit);
    message = posix.recvFd(handoff, byte);
  } finally {
    posix.close(handoff);
  }
  if (message === null || message.fd === null) return;
  plan.clientFd = message.fd;
  plan.framing = ((byte[0] ?? 0) & ~HANDOFF_PROXY_BIT) === HANDOFF_BYTE.websocket ? 'websocket' : 'telnet';
  plan.expectProxyHeader = ((byte[0] ?? 0) & HANDOFF_PROXY_BIT) !== 0;
  named(CHILD_NAME);
  askForSlice(SERVING_SLICE_NS); // on a line's path from now on (src/scheduling.ts)
  if (takeProxyHeader(plan, records, chunk)) serve(plan, records, input, chunk);
}
