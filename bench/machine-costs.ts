/**
 * What this machine charges for the things posix-chat does more often than a one-process
 * server: a system call; one process waking another through a pipe (a line a client types
 * wakes two of posix-chat's processes, the client's child and then the parent, and costs
 * the child a read, a write and a kill; the careful chat wakes nobody); and a new process's
 * first read of a page it shares with its parent (every child starts as a copy of the
 * zygote). Beside a page fault's cost, they say how far the bench's ratios belong to the
 * design and how far to the machine (docs/bench.md, "What the machine charges").
 *
 * Its own process, because it forks: `node --single-threaded dist/tools/bench/machine-costs.js
 * [--quick]` (--quick: an eighth of the work, for the tests). Prints one line of JSON:
 * { "syscallMicros": ..., "wakeMicros": ..., "firstReadMicros": ... }.
 */
import { readFileSync } from 'node:fs';
import { _exit, close, fork, pipe, read, setNonBlocking, waitpid, write } from 'posix-chat/posix';

/** Enough calls, round trips and pages that each figure takes ~0.1-1 s on a slow machine. */
const SHARE = process.argv.includes('--quick') ? 8 : 1;
const CALLS = 200_000 / SHARE;
const ROUND_TRIPS = 20_000 / SHARE;
const SHARED_PAGES = 4096 / SHARE;
/** x86-64's page: on a kernel with larger pages the figure is per 4 KiB read, not per page. */
const PAGE_BYTES = 4096;

/** A thread's or process's CPU time so far in ns, from schedstat ('thread-self' or a pid). */
function cpuNs(who: 'thread-self' | number): number {
  const text = readFileSync(`/proc/${who}/schedstat`, 'utf8');
  return Number(text.slice(0, text.indexOf(' ')));
}

/** A read() of an empty non-blocking pipe (EAGAIN), through the addon as posix-chat makes its calls: CPU µs per call. */
function syscallMicros(): number {
  const [readFd, writeFd] = pipe();
  setNonBlocking(readFd, true);
  const buffer = Buffer.alloc(16);
  const start = cpuNs('thread-self');
  for (let i = 0; i < CALLS; i++) read(readFd, buffer);
  const micros = (cpuNs('thread-self') - start) / 1000 / CALLS;
  close(readFd);
  close(writeFd);
  return micros;
}

/**
 * In the forked child: runs `body`, then leaves with _exit (1 if it threw). The copy has
 * only this thread, so `body` makes synchronous calls only.
 */
function inChild(body: () => void): never {
  let code = 0;
  try {
    body();
  } catch {
    code = 1;
  }
  return _exit(code);
}

/**
 * A byte goes back and forth between this process and a forked partner, each blocked in
 * read() until the other writes: the CPU both spend, per one-way trip. Each trip is a
 * write, the other process woken and scheduled, and its read returning.
 */
function wakeMicros(): number {
  const [toPartner, fromUs] = pipe();
  const [toUs, fromPartner] = pipe();
  const byte = Buffer.alloc(1);
  const pid = fork();
  if (pid === 0) {
    inChild(() => {
      close(fromUs); // else its own copy of our end keeps its read() from ever seeing end of file
      close(toUs);
      while (read(toPartner, byte) === 1) write(fromPartner, byte);
    });
  }
  close(toPartner);
  close(fromPartner);
  const ours = cpuNs('thread-self');
  const partners = cpuNs(pid);
  for (let i = 0; i < ROUND_TRIPS; i++) {
    write(fromUs, byte);
    if (read(toUs, byte) !== 1) throw new Error('the partner process went away');
  }
  // Read while the partner is still alive, blocked in its next read().
  const spent = cpuNs('thread-self') - ours + (cpuNs(pid) - partners);
  close(fromUs); // its read() sees end of file: it exits
  waitpid(pid, 0);
  close(toUs);
  return spent / 1000 / (2 * ROUND_TRIPS);
}

/**
 * A forked child reads one byte of each of SHARED_PAGES pages its parent wrote: CPU µs per
 * page of its first pass, less its second. No page fault is counted (the pages are in its
 * page table from the start), so on bare metal this is about 0; a hypervisor that keeps
 * its own copy of each process's page tables charges for each page the process touches
 * the first time. Slightly high: the first pass also meets the child's own code and stack.
 */
function firstReadMicros(): number {
  const shared = Buffer.alloc(SHARED_PAGES * PAGE_BYTES, 1);
  const [readFd, writeFd] = pipe();
  const result = Buffer.alloc(8);
  const pid = fork();
  if (pid === 0) {
    inChild(() => {
      close(readFd);
      const pass = (): number => {
        const start = cpuNs('thread-self');
        let sum = 0;
        for (let at = 0; at < shared.length; at += PAGE_BYTES) sum += shared[at] ?? 0;
        if (sum !== SHARED_PAGES) throw new Error('the pages changed');
        return cpuNs('thread-self') - start;
      };
      const first = pass();
      result.writeDoubleLE((first - pass()) / 1000 / SHARED_PAGES, 0);
      write(writeFd, result);
    });
  }
  close(writeFd);
  const got = read(readFd, result);
  waitpid(pid, 0);
  close(readFd);
  if (got !== result.length) throw new Error('the child did not report its figure');
  return result.readDoubleLE(0);
}

console.log(JSON.stringify({ syscallMicros: syscallMicros(), wakeMicros: wakeMicros(), firstReadMicros: firstReadMicros() }));
