/**
 * Scheduler slices (Linux 6.12 and later, EEVDF): the processes a line passes through ask
 * for a short one, so a line that wakes them waits less for a CPU that is busy with
 * something else (a fork, a newcomer's start, the load of another program). Those are
 * the parent (once it has started its zygote and sidecars, which keep the default) and
 * every child once it has a client. The zygote asks for the kernel's default for itself
 * and so for its spares: a fork and a new process's set-up can wait a little.
 *
 * A short slice is an earlier virtual deadline, not more CPU: the share stays that of
 * the nice value. docs/bench.md has what it changed.
 */
import * as posix from './posix/index.js';

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
