/**
 * How the scheduler treats the server's processes.
 *
 * The parent's priority: every line passes through it, and in a room of thousands each
 * line is a send per member, which must not wait behind thousands of children starting up
 * or the machine's other programs. Where the system lets it (root, CAP_SYS_NICE, or an
 * RLIMIT_NICE that allows it), the parent runs --priority-boost nice levels (10) above the
 * value the server started with, and every process it forks goes back to that value
 * first thing (becomeChild()). It raises its priority before it gives up root, when it
 * still may; going back down needs no privilege.
 *
 * Scheduler slices (Linux 6.12 and later, EEVDF): the children ask for a short one once
 * they have a client, so a line that wakes them waits less for a CPU that is busy with
 * something else (a fork, a newcomer's start, the load of another program). So does the
 * parent when it could not raise its priority; a parent that did keeps the kernel's
 * default, or it would take the CPU from a child at each of its signals and drain fewer
 * records per wake-up. The zygote asks for the default for itself and so for its
 * spares: a fork and a new process's set-up can wait a little.
 *
 * A short slice is an earlier virtual deadline, not more CPU: the share stays that of
 * the nice value. docs/bench.md has what each changed.
 */
import { getPriority, setPriority } from 'node:os';
import * as posix from './posix/index.js';

/** The nice value the server started with, once the parent has raised its own priority; null while it has not. */
let startNice: number | null = null;

/**
 * Raises this thread's priority by `levels` nice levels (not past -20).
 * @returns the nice value now, or null where the system refuses (no privilege) or `levels` is 0
 */
export function raisePriority(levels: number): number | null {
  const before = getPriority();
  const wanted = Math.max(-20, before - levels);
  if (wanted === before) return null;
  try {
    setPriority(wanted);
  } catch {
    return null; // EACCES: neither root nor CAP_SYS_NICE, and RLIMIT_NICE does not reach
  }
  startNice = before;
  return wanted;
}

/** In a process the parent forked: back to the nice value the server started with. Lowering a priority needs no privilege. */
export function dropRaisedPriority(): void {
  if (startNice === null) return;
  try {
    setPriority(startNice);
  } catch {
    // Not expected (a lower priority is always allowed); the process runs on as it is.
  }
  startNice = null;
}

/** The slice the parent and each serving child ask for: the shortest the kernel gives. */
export const SERVING_SLICE_NS = 100_000;
/** Asking for 0 gives a thread the kernel's default slice back. */
export const DEFAULT_SLICE_NS = 0;

/** Asks the kernel for this thread's slice; best effort: returns what it reports, 0 where it refused. */
export function askForSlice(ns: number): number {
  try {
    return posix.setSchedulerSlice(ns);
  } catch {
    return 0; // a sandbox that forbids sched_setattr: the default it is
  }
}

/** The parent's slice once its zygote and sidecars are forked: short, unless it raised its priority (see above). */
export function askForParentSlice(): void {
  if (startNice === null) askForSlice(SERVING_SLICE_NS);
}
