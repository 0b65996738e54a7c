/**
 * What this machine's kernel charges for the two things posix-chat does more often than a
 * one-process server: a system call, and one process waking another through a pipe. A line
 * a client types wakes two of posix-chat's processes (the client's child, then the parent)
 * and costs the child a read, a write and a kill; the careful chat wakes nobody. So these
 * two figures, beside a page fault's, say how far the bench's ratios belong to the design
 * and how far to the machine (docs/bench.md, "What the machine charges").
 *
 * Its own process, because it forks: `node --single-threaded dist/tools/bench/machine-costs.js`.
 * Prints one line of JSON: { "syscallMicros": ..., "wakeMicros": ... }.
 */
import { readFileSync } from 'node:fs';
import { _exit, close, fork, pipe, read, setNonBlocking, waitpid, write } from 'posix-chat/posix';

/** Enough calls and round trips that each figure takes ~0.2-1 s on a slow machine. */
const CALLS = 200_000;
const ROUND_TRIPS = 20_000;

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
    // The partner: the forked copy has only this thread, so synchronous calls and _exit.
    let code = 0;
    try {
      close(fromUs); // else its own copy of our end keeps its read() from ever seeing end of file
      close(toUs);
      while (read(toPartner, byte) === 1) write(fromPartner, byte);
    } catch {
      code = 1;
    }
    _exit(code);
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

console.log(JSON.stringify({ syscallMicros: syscallMicros(), wakeMicros: wakeMicros() }));
