/** A server's children, and what a page fault costs here, from /proc. (CPU: tree-cpu.ts.) */
import { readFileSync } from 'node:fs';

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  } catch {
    return null;
  }
}

/** A process's minor page faults so far (NaN once it is gone). */
export function minorFaults(pid: number): number {
  return Number(statFields(pid)?.[7] ?? NaN);
}

export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The children serving clients (not the zygote that forks them): each names itself 'posix-client' as it starts. */
export function clientChildPids(pid: number): number[] {
  return childPids(pid).filter((child) => {
    try {
      return readFileSync(`/proc/${child}/comm`, 'utf8').trim() === 'posix-client';
    } catch {
      return false; // already gone
    }
  });
}

/** This thread's time on a CPU, in µs (schedstat); the wall clock where there is none. */
function threadCpuMicros(): number {
  try {
    const text = readFileSync('/proc/thread-self/schedstat', 'utf8');
    return Number(text.slice(0, text.indexOf(' '))) / 1000;
  } catch {
    return performance.now() * 1000;
  }
}

/**
 * What one page fault costs on this machine, in µs: this thread's CPU time to touch
 * each page of a fresh 32 MiB buffer over the minor faults that took (from
 * /proc/self/stat). CPU time, not the wall clock: on a busy machine the thread also
 * waits for a CPU, which is not the fault's cost. Where faults are dear (docs/bench.md
 * has what it cost where), every page a new process writes (fork's copy-on-write)
 * dominates its start-up.
 */
export function pageFaultMicros(): number {
  const faults = (): number => minorFaults(process.pid);
  const buffer = Buffer.allocUnsafeSlow(32 << 20); // its own mapping: no page touched yet
  const before = faults();
  const start = threadCpuMicros();
  for (let at = 0; at < buffer.length; at += 4096) buffer[at] = 1;
  const micros = threadCpuMicros() - start;
  const taken = faults() - before;
  return taken > 0 ? micros / taken : NaN; // none counted: this is not Linux's /proc
}
