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
 *
 * The sampling runs on a thread of its own (tree-cpu-worker.ts): a sample of a tree
 * of hundreds of processes reads a thousand /proc files or more, and on the load
 * generator's own thread each one held up the clients' timestamps (docs/bench.md, "The
 * join tail").
 */
import { readdirSync, readFileSync } from 'node:fs';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

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

/** What a meter's thread is given (workerData). */
export interface MeterSetup {
  root: number;
  everyMs: number;
  /** Where it answers stop() with the TreeCpu. */
  port: MessagePort;
  /** [0]: 1 once the first sample is taken, 2 once the answer to stop() is posted. */
  progress: Int32Array;
}

/** How long start() and stop() wait for the meter's thread before giving up. */
const METER_THREAD_TIMEOUT_MS = 10_000;

/**
 * A window's CPU of a process tree: start() takes the first sample, stop() the last and
 * returns the sum. Both return only once their sample is taken, as if it were taken on
 * the caller's thread; meanwhile a thread of the meter's own samples every `everyMs`.
 */
export class TreeCpuMeter {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private progress = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    private readonly root: number,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    const { port1, port2 } = new MessageChannel();
    this.progress = new Int32Array(new SharedArrayBuffer(4));
    const setup: MeterSetup = { root: this.root, everyMs: this.everyMs, port: port2, progress: this.progress };
    this.worker = new Worker(new URL('./tree-cpu-worker.js', import.meta.url), { workerData: setup, transferList: [port2] });
    this.worker.on('error', () => {}); // one that cannot even start shows as a timeout in waitFor()
    this.port = port1;
    this.waitFor(1, 'its first sample');
    const failed = receiveMessageOnPort(port1)?.message as { error?: string } | undefined;
    if (failed?.error !== undefined) throw new Error(`the CPU meter's first sample failed: ${failed.error}`);
  }

  /**
   * Stops and returns the tree's CPU since start(), in ns: the total and by role, and
   * how long its threads were ready to run but waited for a CPU (others had it), and how
   * many times one of them was put on a CPU.
   */
  stop(): TreeCpu {
    const { worker, port } = this;
    if (worker === null || port === null) throw new Error('TreeCpuMeter.stop() before start()');
    port.postMessage('stop');
    this.waitFor(2, 'its last sample');
    const answer = receiveMessageOnPort(port)?.message as (TreeCpu & { error?: undefined }) | { error: string } | undefined;
    port.close();
    void worker.terminate();
    this.worker = null;
    this.port = null;
    if (answer === undefined || answer.error !== undefined) throw new Error(`the CPU meter's last sample failed: ${answer?.error ?? 'no answer'}`);
    return answer;
  }

  /** Blocks until the meter's thread has got to `stage` (see MeterSetup.progress). */
  private waitFor(stage: number, what: string): void {
    const deadline = Date.now() + METER_THREAD_TIMEOUT_MS;
    for (let now = Date.now(); Atomics.load(this.progress, 0) < stage; now = Date.now()) {
      if (now >= deadline) throw new Error(`the CPU meter's thread did not take ${what} within ${METER_THREAD_TIMEOUT_MS} ms`);
      Atomics.wait(this.progress, 0, stage - 1, deadline - now);
    }
  }
}

/** The sampling itself, on the meter's thread. */
export class TreeCpuSampler {
  private readonly tasks = new Map<string, Task>();

  constructor(private readonly root: number) {}

  /** The tree's CPU from the first sample to the last; see TreeCpuMeter.stop(). */
  result(): TreeCpu {
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

  /** Reads every thread of the tree; `first`: the window's first sample. */
  sample(first: boolean): void {
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

/** Every thread of `pid` together: time on a CPU, in ns (0 once it is gone). */
export function processCpuNs(pid: number): number {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let sum = 0;
  for (const tid of tids) sum += Number(read(`/proc/${pid}/task/${tid}/schedstat`)?.split(' ', 1)[0] ?? 0);
  return sum;
}

/** A kernel thread's kind (`kworker`, `kdamond.0`) and its CPU so far, in ns. */
export interface KernelThread {
  name: string;
  ns: number;
}

/** The kernel's own threads (kthreadd, pid 2, and its children), by pid. */
export function kernelThreads(): Map<number, KernelThread> {
  const threads = new Map<number, KernelThread>();
  const children = read('/proc/2/task/2/children') ?? '';
  for (const pid of [2, ...children.split(' ').filter((word) => word.trim() !== '').map(Number)]) {
    const comm = read(`/proc/${pid}/comm`);
    if (comm === null) continue;
    // kworker/0:1-events, ksoftirqd/1: one name for the kind, not one per CPU or per worker.
    threads.set(pid, { name: comm.trim().split('/')[0] ?? '', ns: processCpuNs(pid) });
  }
  return threads;
}

/**
 * What each kind of kernel thread took between two readings, in ns, busiest first. A
 * thread born between them counts from 0; one that ended between them is not counted
 * (kworkers come and go; summing by kind instead would count an ended one's whole life
 * as negative).
 */
export function kernelThreadsBetween(before: Map<number, KernelThread>, after: Map<number, KernelThread>): [string, number][] {
  const byName = new Map<string, number>();
  for (const [pid, { name, ns }] of after) byName.set(name, (byName.get(name) ?? 0) + ns - (before.get(pid)?.ns ?? 0));
  return [...byName].sort((a, b) => b[1] - a[1]);
}
