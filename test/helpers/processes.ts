/** Looks at processes through /proc: children, zombies, thread signal masks. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { CHILD_NAME } from '../../src/child/spare.js';

function status(pid: number, tid = pid): string | null {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
  } catch {
    return null;
  }
}

function field(text: string, name: string): string {
  const match = new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(text);
  if (!match?.[1]) throw new Error(`no ${name} in status`);
  return match[1];
}

/** Pids whose parent is `pid` (zombies included). */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = status(Number(entry));
    if (text !== null && Number(field(text, 'PPid')) === pid) found.push(Number(entry));
  }
  return found;
}

/** 'R', 'S', 'Z'...: the process state letter, or null when it no longer exists. */
export function processState(pid: number): string | null {
  const text = status(pid);
  return text === null ? null : field(text, 'State').charAt(0);
}

export function isAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== null && state !== 'Z';
}

/** The process's ignored signals (SigIgn) as a mask; 0 when it is gone. */
export function ignoredSignals(pid: number): bigint {
  const text = status(pid);
  return text === null ? 0n : BigInt(`0x${field(text, 'SigIgn')}`);
}

export interface ThreadMask {
  tid: number;
  blocked: bigint;
  /** The system call the thread is in (number from /proc/PID/task/TID/syscall), or null. */
  syscall: number | null;
}

export function threadMasks(pid: number): ThreadMask[] {
  return readdirSync(`/proc/${pid}/task`).map((entry) => {
    const tid = Number(entry);
    const text = status(pid, tid) ?? '';
    let syscall: number | null = null;
    try {
      const first = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0] ?? '';
      syscall = /^\d+$/.test(first) ? Number(first) : null;
    } catch {
      // Not readable without ptrace rights; callers treat it as unknown.
    }
    return { tid, blocked: BigInt(`0x${field(text, 'SigBlk')}`), syscall };
  });
}

/** Bit of `signo` in a /proc signal mask. */
export function maskBit(signo: number): bigint {
  return 1n << BigInt(signo - 1);
}

/** The descriptors `pid` holds and what each points to (`socket:[INODE]`, `pipe:[INODE]`, a path). */
export function descriptors(pid: number): { fd: number; target: string }[] {
  const held: { fd: number; target: string }[] = [];
  for (const entry of readdirSync(`/proc/${pid}/fd`)) {
    try {
      held.push({ fd: Number(entry), target: readlinkSync(`/proc/${pid}/fd/${entry}`) });
    } catch {
      // closed meanwhile
    }
  }
  return held;
}

/** Children of `pid` whose name (/proc/PID/comm) is `name`. */
export function childrenNamed(pid: number, name: string): number[] {
  return childrenOf(pid).filter((child) => processName(child) === name);
}

/**
 * The server's children that serve clients (not its zygote or spare): each names
 * itself CHILD_NAME as it starts, so one just forked shows up a moment later.
 */
export function clientChildrenOf(pid: number): number[] {
  return childrenNamed(pid, CHILD_NAME);
}

/** The process's name (/proc/PID/comm), or null when it is gone. */
export function processName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * One line per process of a server (itself and its children): pid, name, state, the
 * kernel function it sleeps in and its system call. Printed when a test fails, to tell
 * a stalled loop from a child stuck in a read or a write.
 */
export function describeProcesses(serverPid: number): string {
  const read = (pid: number, file: string): string => {
    try {
      return readFileSync(`/proc/${pid}/${file}`, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  return [serverPid, ...childrenOf(serverPid)]
    .map((pid) => `${pid} ${processName(pid) ?? '?'} state ${processState(pid) ?? 'gone'} wchan ${read(pid, 'wchan')} syscall ${read(pid, 'syscall').split(' ')[0] ?? '?'}`)
    .join('\n');
}
