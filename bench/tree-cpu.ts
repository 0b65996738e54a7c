/**
 * CPU time of a server's whole process tree, in nanoseconds, from the scheduler's
 * own accounting (`/proc/PID/task/TID/schedstat`, first field: time on a CPU)
 * rather than from 10 ms ticks, which miss a child's short bursts.
 *
 * A meter samples every thread of every process under the root (children, their
 * children, ...) when it starts, every `everyMs` while it runs, and when it stops.
 * A thread's share is its last sample minus its first (0 for a thread born in the
 * window: all of its time counts). A process that exits in the window counts up
 * to its last sample, so at most `everyMs` of its life can be missed.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** What each kind of process in the tree took, in ns; the root is 'server'. */
export type CpuByRole = Map<string, number>;

interface Task {
  first: number;
  last: number;
  /** The same for the time spent runnable but waiting for a CPU (schedstat's second field). */
  firstWait: number;
  lastWait: number;
  /** How many times it was put on a CPU (schedstat's third field): its wake-ups, and its returns after being preempted. */
  firstRuns: number;
  lastRuns: number;
  role: string;
}

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null; // gone meanwhile
  }
}

/** The root and every descendant process, with the name each gave itself (`comm`). */
export function treePids(root: number): { pid: number; comm: string }[] {
  const found: { pid: number; comm: string }[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    const comm = read(`/proc/${pid}/comm`);
    if (comm === null) continue;
    found.push({ pid, comm: comm.trim() });
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const children = read(`/proc/${pid}/task/${tid}/children`);
      if (children === null) continue;
      for (const child of children.split(' ')) if (child.trim() !== '') stack.push(Number(child));
    }
  }
  return found;
}

/** A process's role in the table: its own name for posix-chat's processes, 'server' for the root. */
function roleOf(pid: number, root: number, comm: string): string {
  if (pid === root) return 'server';
  return comm.startsWith('posix-') ? comm : 'other';
}

/** A tree's CPU over a window: see TreeCpuMeter.stop(). */
export interface TreeCpu {
  totalNs: number;
  byRole: CpuByRole;
  waitNs: number;
  runs: number;
}

export class TreeCpuMeter {
  private readonly tasks = new Map<string, Task>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly root: number,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    this.tasks.clear();
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), this.everyMs);
  }

  /**
   * Stops and returns the tree's CPU since start(), in ns: the total and by role, and
   * how long its threads were ready to run but waited for a CPU (others had it), and how
   * many times one of them was put on a CPU.
   */
  stop(): TreeCpu {
    clearInterval(this.timer);
    this.sample(false);
    const byRole: CpuByRole = new Map();
    let totalNs = 0;
    let waitNs = 0;
    let runs = 0;
    for (const task of this.tasks.values()) {
      const ns = task.last - task.first;
      totalNs += ns;
      waitNs += task.lastWait - task.firstWait;
      runs += task.lastRuns - task.firstRuns;
      byRole.set(task.role, (byRole.get(task.role) ?? 0) + ns);
    }
    return { totalNs, byRole, waitNs, runs };
  }

  private sample(first: boolean): void {
    for (const { pid, comm } of treePids(this.root)) {
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      const role = roleOf(pid, this.root, comm);
      for (const tid of tids) {
        const text = read(`/proc/${pid}/task/${tid}/schedstat`);
        if (text === null) continue;
        const [ns, wait, runs] = text.split(' ', 3).map(Number) as [number, number, number];
        // A process's start time would tell a reused pid apart; within one window a pid is not reused.
        const key = `${pid}/${tid}`;
        const task = this.tasks.get(key);
        // A spare renames itself when it gets its client: the role is the latest name.
        if (task === undefined) {
          this.tasks.set(key, { first: first ? ns : 0, last: ns, firstWait: first ? wait : 0, lastWait: wait, firstRuns: first ? runs : 0, lastRuns: runs, role });
        } else {
          task.last = ns;
          task.lastWait = wait;
          task.lastRuns = runs;
          task.role = role;
        }
      }
    }
  }
}

/** One process's main thread: time on a CPU and time waiting for one, in ns, since it started. */
export function ownSchedstat(pid: number): { cpuNs: number; waitNs: number } {
  const text = read(`/proc/${pid}/schedstat`);
  if (text === null) return { cpuNs: NaN, waitNs: NaN };
  const [cpuNs, waitNs] = text.split(' ', 2).map(Number) as [number, number];
  return { cpuNs, waitNs };
}
