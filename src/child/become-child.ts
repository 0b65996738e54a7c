/**
 * Entering a child process: the first thing every process the parent forks does
 * (the per-connection child, a spare, the zygote, and the Redis link before its
 * execve()). The rule around fork() in Node: everything the child needs was decided
 * before it, and after it only synchronous addon calls run.
 */
import * as posix from '../posix/index.js';
import type { Signal } from '../posix/index.js';
import { dropRaisedPriority } from '../scheduling.js';

export interface ChildEntry {
  /** The parent's pid, as the parent read it before fork(). */
  parentPid: number;
  /** The name in ps, top and /proc/PID/comm. */
  name: string;
  /** The parent's descriptors this process must not keep. */
  closeFds: readonly number[];
  /** Sent to this process when the parent dies, however it dies. Default SIGKILL. */
  deathSignal?: Signal;
}

export function becomeChild(entry: ChildEntry): void {
  // Die with the parent, even if it dies by SIGKILL; and if it already died between
  // fork() and here, leave now (we would have been re-parented).
  posix.setParentDeathSignal(entry.deathSignal ?? 'SIGKILL');
  if (posix.getppid() !== entry.parentPid) posix._exit(1);
  posix.setProcessName(entry.name);
  dropRaisedPriority(); // the parent's boost is the parent's alone (src/scheduling.ts)
  // Ctrl-C signals the whole foreground group: the parent stops us in order.
  posix.sigaction('SIGINT', 'ignore');
  for (const fd of entry.closeFds) posix.close(fd);
}
