/** CPU time and memory of a server and its children, from /proc. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  } catch {
    return null;
  }
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

/**
 * utime + stime of `pid` and every child, live or reaped (cutime/cstime count the
 * reaped ones), in seconds.
 */
export function treeCpuSeconds(pid: number): number {
  const own = statFields(pid);
  if (own === null) return NaN;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const child of childPids(pid)) {
    const fields = statFields(child);
    if (fields !== null) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS;
}

/** Proportional set size in KiB (shared pages divided among their sharers). */
export function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1]);
  } catch {
    return NaN;
  }
}

export function threadCount(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).length;
}

/**
 * What one page fault costs on this machine, in µs: the time to touch each page of a
 * fresh 32 MiB buffer over the minor faults that took (from /proc/self/stat). Where
 * faults are dear (docs/bench.md has what it cost where), every page
 * a new process writes (fork's copy-on-write) dominates its start-up.
 */
export function pageFaultMicros(): number {
  const faults = (): number => Number(statFields(process.pid)?.[7] ?? NaN); // minflt
  const buffer = Buffer.allocUnsafeSlow(32 << 20); // its own mapping: no page touched yet
  const before = faults();
  const start = performance.now();
  for (let at = 0; at < buffer.length; at += 4096) buffer[at] = 1;
  const micros = (performance.now() - start) * 1000;
  const taken = faults() - before;
  return taken > 0 ? micros / taken : NaN; // none counted: this is not Linux's /proc
}
