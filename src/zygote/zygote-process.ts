/**
 * The zygote process: a copy of the parent, forked once at start, whose only job is
 * to fork the per-connection children ahead of need (spares). Each spare is forked
 * with clone(CLONE_PARENT), so it is the parent's child, not the zygote's. The
 * parent's side of the conversation is src/parent/zygote.ts.
 *
 * The control socket: the parent asks for spares (one byte each); the zygote answers
 * each with the spare's pid (int32, little-endian) carrying the parent's end of the
 * spare's hand-off socket (SCM_RIGHTS), or a negative errno without a descriptor
 * when it could not fork.
 */
import { becomeChild } from '../child/become-child.js';
import { runSpare } from '../child/socket-client-broadcast.js';
import { CLIENT_READ_BYTES } from '../child/serve-client.js';
import { makeSpareKit } from '../child/spare.js';
import type { ChildPlan } from '../contracts.js';
import * as posix from '../posix/index.js';
import { askForSlice, DEFAULT_SLICE_NS } from '../scheduling.js';

/** A child's plan, given its client socket and the descriptors it must close. */
export type PlanFor = (clientFd: number, closeFds: number[]) => ChildPlan;

/** The process name of the zygote, in ps and /proc/PID/comm. */
export const ZYGOTE_NAME = 'posix-zygote';

/**
 * At most this many spares asked for at once, when clients queue up (a storm of
 * connections): the zygote forks them back to back while the parent's loop is busy
 * sending (each spare asked for costs a turn of that loop, and a turn can be a line
 * sent to thousands), and the parent admits every one that has arrived in one loop
 * turn, so the others hear one batch of "joined" notices.
 */
export const MAX_SPARES_ASKED = 32;

/**
 * The zygote's whole life: fork a spare with a socketpair of its own, send the
 * parent the spare's pid and the other end; once per byte the parent sends, for ever.
 * Never returns.
 */
export function runZygote(parentPid: number, closeFds: readonly number[], controlFd: number, planFor: PlanFor): never {
  becomeChild({ parentPid, name: ZYGOTE_NAME, closeFds });
  askForSlice(DEFAULT_SLICE_NS); // not the parent's short slice: a fork can wait a little (src/scheduling.ts)
  const reply = Buffer.alloc(4);
  const request = Buffer.alloc(MAX_SPARES_ASKED);
  // Every spare's records, input and read buffer, as they were made: see makeSpareKit().
  const kit = makeSpareKit(planFor(-1, []), Buffer.allocUnsafe(CLIENT_READ_BYTES));
  // One plan for every spare, made once: each spare gets its own copy with its fork. Its
  // last descriptor to close is set before each fork, and each socketpair is written into
  // the same array. So the loop allocates next to nothing per fork, and V8 has little
  // reason to collect garbage here (docs/bench.md, "A second way a child grows").
  const spareCloses = [controlFd, -1];
  const plan = planFor(-1, spareCloses);
  const pair = new Int32Array(2);
  for (let wanted = 1; ; ) {
    for (; wanted > 0; wanted--) {
      posix.socketpair(pair);
      const parentEnd = pair[0] as number;
      const spareEnd = pair[1] as number;
      spareCloses[1] = parentEnd;
      let pid: number;
      try {
        // The spare starts in runSpare(), never back in this loop: V8 optimises the loop
        // after a few thousand forks, for the zygote's side of the fork only.
        pid = posix.forkSibling(runSpare, plan, spareEnd, kit);
      } catch (error) {
        pid = (error as NodeJS.ErrnoException).errno ?? -1;
      }
      posix.close(spareEnd);
      reply.writeInt32LE(pid, 0);
      try {
        if (pid > 0) posix.sendFd(controlFd, parentEnd, reply);
        else posix.write(controlFd, reply);
        posix.close(parentEnd);
      } catch {
        return posix._exit(1);
      }
    }
    try {
      wanted = posix.read(controlFd, request) ?? 0; // one byte per spare wanted
    } catch {
      return posix._exit(1);
    }
    if (wanted === 0) return posix._exit(0); // the parent has gone
  }
}
