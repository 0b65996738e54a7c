/**
 * The addon's calls that change the whole process: the signal mask and actions, the
 * resource limits, the parent-death signal, a signal when a descriptor is readable,
 * forkSibling() and the process name. Each runs in a separate node process
 * (test/fixtures/process-cases.mjs), for what it does and for its error path.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/server.js';

const BLOCK_USR1 = path.join(ROOT, 'test/fixtures/block-usr1.cjs');

interface Caught {
  name: string;
  code?: string;
  errno?: number;
  syscall?: string;
  message: string;
}

/** Runs one case in its own node process, behind `prefix` (e.g. setpriv) when given. */
function processCase(name: string, options: { blockUsr1First?: boolean; singleThreaded?: boolean; prefix?: string[] } = {}): Record<string, unknown> {
  const flags = [...(options.singleThreaded === false ? [] : ['--single-threaded']), ...(options.blockUsr1First ? ['--require', BLOCK_USR1] : [])];
  const command = [...(options.prefix ?? []), process.execPath, ...flags, path.join(ROOT, 'test/fixtures/process-cases.mjs'), name];
  const result = spawnSync(command[0] as string, command.slice(1), { cwd: ROOT, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  if (result.status !== 0) throw new Error(`case ${name} failed (${result.status ?? result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe('sigprocmask()', () => {
  it('blocks and unblocks in the calling thread, returning the mask before', () => {
    const out = processCase('masks');
    expect(out).toMatchObject({ before: [], during: [12], blocked: true, unblocked: true });
  });

  it('refuses an unknown "how" or signal with a TypeError (pthread_sigmask itself fails only on those)', () => {
    const out = processCase('masks') as Record<string, Caught>;
    expect(out.badHow).toEqual({ name: 'TypeError', message: "how must be 'block', 'unblock' or 'setmask'" });
    expect(out.badSignal).toMatchObject({ name: 'TypeError', message: 'unknown signal: SIGNOPE' });
  });
});

describe('sigaction()', () => {
  it('ignores, forwards (a handler: caught) and restores the default, as /proc/PID/status shows', () => {
    expect(processCase('actions')).toMatchObject({ ignored: true, forwarded: true, byDefault: true });
  });

  it('throws EINVAL for SIGKILL and SIGSTOP, which nobody may catch or ignore, and a TypeError for an unknown action', () => {
    const out = processCase('actions') as Record<string, Caught>;
    const einval = { name: 'Error', code: 'EINVAL', errno: -22, syscall: 'sigaction', message: 'EINVAL: Invalid argument, sigaction' };
    expect(out.kill).toEqual(einval);
    expect(out.stop).toEqual(einval);
    expect(out.badAction).toEqual({ name: 'TypeError', message: "action must be 'default', 'ignore' or 'forward'" });
  });
});

describe('getrlimit() and setrlimit()', () => {
  it('read the limits /proc/PID/limits shows, and lower one', () => {
    const out = processCase('limits') as { first: { soft: number; hard: number }; proc: [number, number]; lowered: unknown };
    expect([out.first.soft, out.first.hard]).toEqual(out.proc);
    expect(out.lowered).toEqual({ soft: 64, hard: out.first.hard });
  });

  it('throw EINVAL for a soft limit above the hard one and EPERM above fs.nr_open, changing nothing', () => {
    const out = processCase('limits') as Record<string, Caught> & { lowered: unknown; after: unknown };
    expect(out.softAboveHard).toEqual({ name: 'Error', code: 'EINVAL', errno: -22, syscall: 'setrlimit', message: 'EINVAL: Invalid argument, setrlimit' });
    expect(out.aboveNrOpen).toEqual({ name: 'Error', code: 'EPERM', errno: -1, syscall: 'setrlimit', message: 'EPERM: Operation not permitted, setrlimit' });
    expect(out.after).toEqual(out.lowered);
    expect(out.badResource).toEqual({ name: 'TypeError', message: "resource must be 'RLIMIT_NOFILE' or 'RLIMIT_NPROC'" });
  });
});

describe('setParentDeathSignal()', () => {
  it('ends a process blocked in read() when its parent exits', () => {
    const out = processCase('deathSignal') as { middleExit: unknown; grandchildState: string };
    expect(out.middleExit).toMatchObject({ code: 0, signal: null });
    expect(['gone', 'Z']).toContain(out.grandchildState); // a zombie is dead, waiting for init to reap it
  });

  it('refuses what is not a signal (prctl itself fails only on those)', () => {
    const out = processCase('deathSignal') as Record<string, Caught>;
    expect(out.badSignal).toMatchObject({ name: 'TypeError', message: 'unknown signal: SIGNOPE' });
    expect(out.zero).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  });
});

describe('setSignalOnReadable()', () => {
  it('queues the signal once the descriptor is readable, with POLL_IN and the descriptor; EBADF for a closed one', () => {
    const out = processCase('signalOnReadable', { blockUsr1First: true }) as { readFd: number; woke: unknown; closed: Caught };
    expect(out).toMatchObject({ async: true, nonBlocking: true, before: null });
    expect(out.woke).toMatchObject({ signo: 10, code: 1, fd: out.readFd }); // si_code 1: POLL_IN
    expect(out.closed).toEqual({ name: 'Error', code: 'EBADF', errno: -9, syscall: 'fcntl', message: 'EBADF: Bad file descriptor, fcntl' });
  });
});

describe('forkSibling()', () => {
  it('refuses without --single-threaded and says why', () => {
    const out = processCase('siblingNoFlag', { singleThreaded: false }) as unknown as Caught;
    expect(out.code).toBe('ERR_POSIX_NOT_SINGLE_THREADED');
    expect(out.message).toMatch(/^forkSibling\(\) needs node to run with --single-threaded/);
  });

  // As root the process limit does not apply: run as another user. Not one the other tests use.
  const isRoot = process.getuid?.() === 0;
  const asOther = ['setpriv', '--reuid=65533', '--regid=65533', '--clear-groups'];
  const why = !isRoot
    ? ''
    : spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0
      ? 'missing setpriv (util-linux)'
      : spawnSync(asOther[0] as string, [...asOther.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(path.join(ROOT, 'dist/posix/index.js'))})`]).status !== 0
        ? 'uid 65533 cannot read dist/ (the checkout must be readable by others)'
        : '';
  if (why !== '' && process.env.CI === 'true') {
    it('can run a case as another user (required under CI)', () => {
      throw new Error(`cannot test forkSibling() under a process limit: ${why}`);
    });
    return;
  }

  it.skipIf(why !== '')(`throws EAGAIN (syscall clone) under RLIMIT_NPROC, and makes no process${why === '' ? '' : ` (skipped: ${why})`}`, () => {
    const out = processCase('siblingLimit', { prefix: isRoot ? asOther : [] }) as { error: Caught; exits: unknown[] };
    expect(out.error).toEqual({ name: 'Error', code: 'EAGAIN', errno: -11, syscall: 'clone', message: 'EAGAIN: Resource temporarily unavailable, clone' });
    expect(out.exits).toEqual([expect.objectContaining({ code: 0, signal: null })]); // the middle child only
  });
});

describe('setProcessName()', () => {
  it('names the process in /proc/PID/comm, cut to 15 bytes, and refuses what is not a string', () => {
    expect(processCase('names')).toEqual({ cut: 'a-very-long-pro', short: 'short', notString: { name: 'TypeError', message: 'name must be a string' } });
  });
});
