import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as posix from '../src/posix/index.js';
import { pollUntil } from './helpers/poll.js';
import { ROOT } from './helpers/server.js';

/** Runs one case of test/fixtures/fork-cases.mjs in its own node process: fork never runs in the test worker. */
function forkCase(name: string, options: { singleThreaded?: boolean; blockUsr1First?: boolean; args?: string[] } = {}): Record<string, unknown> {
  const flags = [...(options.singleThreaded === false ? [] : ['--single-threaded']), ...(options.blockUsr1First ? ['--require', path.join(ROOT, 'test/fixtures/block-usr1.cjs')] : [])];
  const result = spawnSync(process.execPath, [...flags, path.join(ROOT, 'test/fixtures/fork-cases.mjs'), name, ...(options.args ?? [])], {
    encoding: 'utf8',
    timeout: 90_000,
    killSignal: 'SIGKILL',
  });
  if (result.status !== 0) throw new Error(`case ${name} failed (${result.status ?? result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

function thrown(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  throw new Error('expected a throw');
}

const opened: number[] = [];
afterEach(() => {
  for (const fd of opened.splice(0)) {
    try {
      posix.close(fd);
    } catch {
      // already closed by the test
    }
  }
});

/** A TCP connection from a node:net client to a socket accepted with the addon. */
async function acceptedPair(): Promise<{ fd: number; received: () => string; close: () => void }> {
  const listening = posix.socket('IPv4');
  opened.push(listening);
  posix.bind(listening, '127.0.0.1', 0);
  posix.listen(listening, 5);
  posix.setNonBlocking(listening, true);
  const client = net.connect(posix.getsockname(listening).port, '127.0.0.1');
  let got = '';
  client.on('data', (chunk: Buffer) => (got += chunk.toString()));
  await new Promise((resolve) => client.once('connect', resolve));
  let accepted: posix.AcceptedSocket | null = null;
  await pollUntil(() => (accepted = posix.accept(listening)) !== null, 5_000, 'accept() to take the connection');
  const { fd } = accepted as unknown as posix.AcceptedSocket;
  opened.push(fd);
  return { fd, received: () => got, close: () => client.destroy() };
}

/**
 * Calls `send` until the kernel reports the peer gone: the first sends after the peer
 * closed still succeed (its FIN came, not yet its reset for what we sent).
 */
async function errorOnceGone(send: () => unknown): Promise<NodeJS.ErrnoException> {
  let error: NodeJS.ErrnoException | null = null;
  await pollUntil(() => {
    try {
      send();
      return false;
    } catch (caught) {
      error = caught as NodeJS.ErrnoException;
      return true;
    }
  }, 5_000, 'a send to fail');
  return error as unknown as NodeJS.ErrnoException;
}

describe('fork()', () => {
  it('returns the child pid, and waitpid() its exit code', () => {
    const out = forkCase('exitCode') as { pid: number; status: posix.WaitResult };
    expect(out.status).toEqual({ pid: out.pid, code: 7, signal: null });
  });

  it('runs a function given to it, with its arguments, in the child, which never returns from fork(), and exits 70 saying why if it ends', () => {
    const out = forkCase('childFunction') as { ran: number; ranStatus: posix.WaitResult; said: string; returned: posix.WaitResult; threw: posix.WaitResult; stderr: string; notFunction: unknown };
    expect(out.said).toBe(`ran in ${out.ran};`); // and nothing from the caller's code after fork()
    expect(out.ranStatus).toEqual({ pid: out.ran, code: 3, signal: null });
    expect(out.returned).toMatchObject({ code: 70, signal: null });
    expect(out.threw).toMatchObject({ code: 70, signal: null });
    expect(out.stderr).toBe("posix: the child's function returned instead of calling _exit()\nposix: the child's function threw: no more\n");
    expect(out.notFunction).toEqual({ name: 'TypeError', message: 'child must be a function' });
  });

  /**
   * docs/fork-in-node.md, fact 14: a loop that forks, optimised by V8 while it runs
   * (%OptimizeOsr after 3 turns) for the parent's side of the fork only. A child that
   * returns from fork() into it throws that code away (--trace-deopt prints it from the
   * child); one that starts in the function given to fork() does not.
   */
  it('starts the child in the function given to it, so a child does not throw away a loop V8 optimised for the parent', () => {
    const run = (mode: string): { stdout: string; status: number | null } =>
      spawnSync(process.execPath, ['--single-threaded', '--allow-natives-syntax', '--trace-deopt', path.join(ROOT, 'test/fixtures/osr-fork.mjs'), mode], {
        encoding: 'utf8',
        timeout: 60_000,
        killSignal: 'SIGKILL',
      });
    const deopts = (stdout: string): number => (stdout.match(/deoptimizing [^\n]*<JSFunction forkLoop /g) ?? []).length;
    const inFunction = run('function');
    const returning = run('returns');
    expect([inFunction.status, returning.status]).toEqual([0, 0]);
    for (const { stdout } of [inFunction, returning]) expect(JSON.parse(stdout.trim().split('\n').at(-1) ?? '')).toMatchObject({ forked: 10, childrenRan: 10 });
    expect(deopts(inFunction.stdout)).toBe(0);
    expect(deopts(returning.stdout)).toBeGreaterThan(0); // what the function form avoids, seen here
  });

  it('is given the child function at every fork in src/', () => {
    const bare: string[] = [];
    for (const file of readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.ts')) continue;
      const text = readFileSync(path.join(ROOT, 'src', file), 'utf8');
      for (const match of text.matchAll(/posix\.(fork|forkSibling)\(\s*\)/g)) bare.push(`${file}: ${match[0]}`);
    }
    expect(bare).toEqual([]);
  });

  it('gives the child its own getpid() while process.pid still says the parent', () => {
    const out = forkCase('pids') as { parent: number; child: number; report: Record<string, number> };
    expect(out.report).toEqual({ getpid: out.child, processPid: out.parent, getppid: out.parent });
  });

  it('starts the child with an empty mask and default actions for the signals the parent handled', () => {
    const out = forkCase('signalReset') as { status: posix.WaitResult; child: { blocked: string; caught: string } };
    expect(BigInt(`0x${out.child.blocked}`)).toBe(0n);
    expect(BigInt(`0x${out.child.caught}`) & (1n << 14n)).toBe(0n); // SIGTERM (15) not caught
    expect(out.status.signal).toBe(15); // so SIGTERM's default action ended it
  });

  it('lets children that garbage-collect many times all finish (node --single-threaded)', () => {
    const out = forkCase('gc', { args: ['12'] });
    expect(out).toEqual({ forked: 12, exitedZero: 12, hung: 0, parentKept: 200_000 });
  }, 90_000);

  it('gives a child, and its own child, the heap that grew after an earlier fork, which V8 marked MADV_DONTFORK again', () => {
    const out = forkCase('heapGrows');
    expect(out).toEqual({ first: 0, grewDontFork: true, second: { code: 0, signal: null } });
  }, 90_000);

  it('refuses without --single-threaded and says why', () => {
    const out = forkCase('noFlag', { singleThreaded: false });
    expect(out.code).toBe('ERR_POSIX_NOT_SINGLE_THREADED');
    expect(out.message).toMatch(/--single-threaded/);
    expect(out.message).toMatch(/garbage collection/);
  });
});

describe('forkSibling() and setProcessName()', () => {
  it('makes the new process a child of the caller\'s parent, which reaps it', () => {
    const out = forkCase('sibling') as { parent: number; middle: number; exits: posix.WaitResult[]; report: { ppid: number; comm: string } };
    expect(out.report).toEqual({ ppid: out.parent, comm: 'sibling-test' });
    const codes = out.exits.map((exit) => exit.code).sort();
    expect(codes).toEqual([0, 5]); // the middle child and its sibling, both reaped by the parent
    expect(out.exits.map((exit) => exit.pid)).toContain(out.middle);
  });
});

describe('socketpair(), sendFd() and recvFd()', () => {
  it('pass an open descriptor: what is written through the copy comes out of the original pipe', () => {
    const [left, right] = posix.socketpair();
    const [readFd, writeFd] = posix.pipe();
    opened.push(left, right, readFd, writeFd);
    expect(posix.sendFd(left, writeFd, Buffer.from('x'))).toBe(1);
    const buffer = Buffer.alloc(8);
    const message = posix.recvFd(right, buffer) as posix.ReceivedMessage;
    expect(message.bytes).toBe(1);
    expect(message.fd).not.toBeNull();
    expect(message.fd).not.toBe(writeFd);
    opened.push(message.fd as number);
    expect(posix.fcntl(message.fd as number, 'F_GETFD') & posix.constants.FD_CLOEXEC).toBe(posix.constants.FD_CLOEXEC);
    posix.write(message.fd as number, Buffer.from('through the copy'));
    const got = Buffer.alloc(64);
    expect(got.toString('utf8', 0, posix.read(readFd, got) as number)).toBe('through the copy');
  });

  it('socketpair(into) writes the pair into a given Int32Array and returns that array, for a loop that must not allocate', () => {
    const into = new Int32Array(2);
    expect(posix.socketpair(into)).toBe(into);
    const [left, right] = [into[0] as number, into[1] as number];
    opened.push(left, right);
    expect(left).toBeGreaterThan(2);
    expect(right).not.toBe(left);
    posix.write(left, Buffer.from('one'));
    posix.write(left, Buffer.from('two'));
    const buffer = Buffer.alloc(8);
    expect(buffer.toString('latin1', 0, posix.read(right, buffer) as number)).toBe('one'); // one message a read
    expect(buffer.toString('latin1', 0, posix.read(right, buffer) as number)).toBe('two');
    for (const wrong of [new Int32Array(1), new Uint32Array(2), [0, 0]]) {
      expect(() => posix.socketpair(wrong as Int32Array)).toThrow(new TypeError('into must be an Int32Array of at least 2 elements'));
    }
  });

  it('recvFd() gives fd null for a plain message and 0 bytes once the other end has closed', () => {
    const [left, right] = posix.socketpair();
    opened.push(left, right);
    posix.write(left, Buffer.from('plain'));
    expect(posix.recvFd(right, Buffer.alloc(8))).toEqual({ bytes: 5, fd: null });
    posix.close(left);
    expect(posix.recvFd(right, Buffer.alloc(8))).toEqual({ bytes: 0, fd: null });
    const error = thrown(() => posix.sendFd(right, right, Buffer.from('x')));
    expect(error).toMatchObject({ syscall: 'sendmsg' });
    expect(['EPIPE', 'ECONNRESET', 'ENOTCONN']).toContain(error.code);
  });
});

describe('execve() and dup2()', () => {
  it('run another program on the descriptors handed to it, closing the rest, and throw ENOENT for a missing one', () => {
    const out = forkCase('exec') as { parent: number; pipeFds: number[]; status: posix.WaitResult; output: string; failedStatus: posix.WaitResult };
    expect(out.status.code).toBe(0);
    const [said = '', listing = ''] = out.output.split('\n');
    expect(said).toBe(`got hello from ${out.parent}`);
    const open = listing.trim().split(' ').map(Number);
    expect(open).toEqual(expect.arrayContaining([0, 1, 2]));
    // The pipes' own descriptors were close-on-exec: the program only has the copies on 0 and 1.
    for (const fd of out.pipeFds) if (fd > 2) expect(open).not.toContain(fd);
    expect(out.failedStatus.code).toBe(42);
  });

  it('dup2() copies a descriptor without close-on-exec, and throws EBADF for a closed one', () => {
    const [readFd, writeFd] = posix.pipe();
    opened.push(readFd, writeFd);
    const target = writeFd + 10;
    expect(posix.dup2(writeFd, target)).toBe(target);
    opened.push(target);
    expect(posix.fcntl(target, 'F_GETFD') & posix.constants.FD_CLOEXEC).toBe(0);
    posix.write(target, Buffer.from('x'));
    expect(posix.read(readFd, Buffer.alloc(4))).toBe(1);
    const error = thrown(() => posix.dup2(target + 1000, target));
    expect(error).toMatchObject({ code: 'EBADF', syscall: 'dup2' });
  });

  it('setCloseOnExec() turns the flag off and on', () => {
    const [readFd, writeFd] = posix.pipe();
    opened.push(readFd, writeFd);
    posix.setCloseOnExec(readFd, false);
    expect(posix.fcntl(readFd, 'F_GETFD') & posix.constants.FD_CLOEXEC).toBe(0);
    posix.setCloseOnExec(readFd, true);
    expect(posix.fcntl(readFd, 'F_GETFD') & posix.constants.FD_CLOEXEC).toBe(posix.constants.FD_CLOEXEC);
  });
});

describe('sigtimedwait()', () => {
  it('returns null after the timeout, and a pending signal with its sender', () => {
    const out = forkCase('sigtimedwait') as { timeout: null; waitedMs: number; got: posix.SignalInfo; self: number };
    expect(out.timeout).toBeNull();
    expect(out.waitedMs).toBeGreaterThanOrEqual(190);
    expect(out.got).toMatchObject({ signo: 10, pid: out.self, code: 0, fd: null });
  });

  it('wakes on a kill(SIGUSR1) from a child and names the child', () => {
    // SIGUSR1 blocked before Node's thread pool starts, as the server does: else a pool
    // thread may take the child's signal and forward it, and the sender is then ourselves.
    const out = forkCase('wakeParent', { blockUsr1First: true });
    expect(out.signo).toBe(10);
    expect(out.sender).toBe(out.child);
  });

  it('rejects a negative timeout', () => {
    expect(() => posix.sigtimedwait(['SIGUSR1'], -1)).toThrow(TypeError);
  });
});

describe('kill()', () => {
  it('throws ESRCH for a pid that does not exist', () => {
    const error = thrown(() => posix.kill(2 ** 22 + 12345, 'SIGUSR1'));
    expect(error).toMatchObject({ code: 'ESRCH', errno: -3, syscall: 'kill' });
    expect(error.message).toBe('ESRCH: No such process, kill');
  });

  it('accepts signal 0 to test that a process exists', () => {
    expect(() => posix.kill(process.pid, 0)).not.toThrow();
  });

  it('rejects an unknown signal name', () => {
    expect(() => posix.kill(process.pid, 'SIGNOPE' as NodeJS.Signals)).toThrow(TypeError);
  });
});

describe('waitpid()', () => {
  it('throws ECHILD when there is no such child', () => {
    expect(thrown(() => posix.waitpid(-1, posix.WNOHANG))).toMatchObject({ code: 'ECHILD', syscall: 'waitpid' });
  });
});

describe('getpid() and getppid()', () => {
  it('match the process', () => {
    expect(posix.getpid()).toBe(process.pid);
    expect(posix.getppid()).toBe(process.ppid);
  });
});

describe('monotonicMicros()', () => {
  it('reads the monotonic clock in whole microseconds, as performance.now() does, modulo 2^30', () => {
    // Each reading brackets the other clock's: a <= p0 <= p1 <= b, and c0 <= a, b <= c1.
    const c0 = performance.now();
    const a = posix.monotonicMicros();
    const p0 = performance.now();
    let p1 = p0;
    while (p1 - p0 < 20) p1 = performance.now();
    const b = posix.monotonicMicros();
    const c1 = performance.now();
    for (const reading of [a, b]) {
      expect(Number.isInteger(reading)).toBe(true);
      expect(reading).toBeGreaterThanOrEqual(0);
      expect(reading).toBeLessThan(posix.MONOTONIC_MICROS_WRAP);
    }
    const elapsed = posix.microsBetween(a, b);
    expect(elapsed).toBeGreaterThanOrEqual(Math.floor((p1 - p0) * 1000) - 1);
    expect(elapsed).toBeLessThanOrEqual(Math.ceil((c1 - c0) * 1000) + 1);
  });

  it('measures across the wrap', () => {
    expect(posix.microsBetween(posix.MONOTONIC_MICROS_WRAP - 5, 10)).toBe(15);
    expect(posix.microsBetween(7, 7)).toBe(0);
  });
});

describe('pipe(), read(), write(), close()', () => {
  it('moves every byte value through a pipe', () => {
    const [readFd, writeFd] = posix.pipe();
    opened.push(readFd, writeFd);
    const data = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(posix.write(writeFd, data)).toBe(256);
    const into = Buffer.alloc(300);
    expect(posix.read(readFd, into, 10, 290)).toBe(256);
    expect(into.subarray(10, 266).equals(data)).toBe(true);
  });

  it('returns null from a non-blocking read with nothing to read, and 0 at end of file', () => {
    const [readFd, writeFd] = posix.pipe();
    opened.push(readFd);
    posix.setNonBlocking(readFd, true);
    expect(posix.read(readFd, Buffer.alloc(8))).toBeNull();
    posix.close(writeFd);
    expect(posix.read(readFd, Buffer.alloc(8))).toBe(0);
  });

  it('throws EPIPE when writing to a pipe nobody reads (SIGPIPE is ignored)', () => {
    const [readFd, writeFd] = posix.pipe();
    opened.push(writeFd);
    posix.close(readFd);
    expect(thrown(() => posix.write(writeFd, Buffer.from('x')))).toMatchObject({ code: 'EPIPE', syscall: 'write' });
  });

  it('throws EBADF for a closed descriptor', () => {
    const [readFd, writeFd] = posix.pipe();
    posix.close(readFd);
    posix.close(writeFd);
    expect(thrown(() => posix.close(readFd))).toMatchObject({ code: 'EBADF', syscall: 'close' });
    expect(thrown(() => posix.read(readFd, Buffer.alloc(1)))).toMatchObject({ code: 'EBADF', syscall: 'read' });
  });

  it('rejects a range outside the buffer', () => {
    const [readFd, writeFd] = posix.pipe();
    opened.push(readFd, writeFd);
    expect(() => posix.write(writeFd, Buffer.alloc(4), 2, 5)).toThrow(/length out of range/);
  });

  it('exports PIPE_BUF', () => {
    expect(posix.PIPE_BUF).toBe(4096);
  });
});

describe('sockets', () => {
  function listener(): { fd: number; port: number } {
    const fd = posix.socket('IPv4');
    opened.push(fd);
    posix.setsockopt(fd, 'SO_REUSEADDR', true);
    posix.bind(fd, '127.0.0.1', 0);
    posix.listen(fd, 5);
    posix.setNonBlocking(fd, true);
    return { fd, port: posix.getsockname(fd).port };
  }

  it('accept() returns null when nobody waits, then the peer address of a connection', async () => {
    const { fd, port } = listener();
    expect(posix.accept(fd)).toBeNull();
    const client = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    let taken: posix.AcceptedSocket | null = null;
    await pollUntil(() => (taken = posix.accept(fd)) !== null, 5_000, 'accept() to take the connection');
    const accepted = taken as posix.AcceptedSocket | null;
    expect(accepted).toMatchObject({ address: '127.0.0.1', port: client.localPort, family: 'IPv4' });
    opened.push(accepted?.fd ?? -1);
    client.destroy();
  });

  it('send() reaches the peer, and a gone peer gives EPIPE or ECONNRESET, never SIGPIPE', async () => {
    const peer = await acceptedPair();
    expect(posix.send(peer.fd, Buffer.from('hello'), { dontWait: true })).toBe(5);
    await pollUntil(() => peer.received() === 'hello', 5_000, `the peer to get hello (got ${JSON.stringify(peer.received())})`);
    peer.close();
    const error = await errorOnceGone(() => posix.send(peer.fd, Buffer.from('are you there?')));
    expect(['EPIPE', 'ECONNRESET']).toContain(error.code);
  });

  it('SO_RCVTIMEO (microseconds) ends a blocking TCP read with null; SO_RCVLOWAT makes it wait for that many bytes, or the timeout', () => {
    const result = forkCase('receiveWaits');
    expect(result.emptyRead).toBeNull();
    expect(result.emptyMs).toBeGreaterThanOrEqual(40); // it did wait its 50 ms
    expect(result.shortRead).toBe(10); // fewer bytes than the low-water mark: given up at the timeout...
    expect(result.shortMs).toBeGreaterThanOrEqual(40); // ...not at once
    expect(result.fullRead).toBe(150); // enough bytes: at once, with no timeout set
  });

  it('bind() to a port in use throws EADDRINUSE', () => {
    const { port } = listener();
    const second = posix.socket('IPv4');
    opened.push(second);
    expect(thrown(() => posix.bind(second, '127.0.0.1', port))).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
  });

  it('listens on IPv6 loopback too', () => {
    const fd = posix.socket('IPv6');
    opened.push(fd);
    posix.bind(fd, '::1', 0);
    posix.listen(fd, 5);
    expect(posix.getsockname(fd)).toMatchObject({ address: '::1', family: 'IPv6' });
  });

  it('recv() with peek leaves the bytes for the next read; null when nothing waits', async () => {
    const { fd, port } = listener();
    const client = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    client.write('hello');
    let accepted: posix.AcceptedSocket | null = null;
    for (let i = 0; i < 200 && accepted === null; i++) {
      accepted = posix.accept(fd);
      if (accepted === null) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const peer = accepted?.fd ?? -1;
    opened.push(peer);
    posix.setNonBlocking(peer, true);
    const buffer = Buffer.alloc(16);
    let n: number | null = null;
    for (let i = 0; i < 200 && n !== 5; i++) {
      n = posix.recv(peer, buffer, 0, 16, { peek: true });
      if (n !== 5) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(buffer.toString('latin1', 0, 5)).toBe('hello');
    expect(posix.recv(peer, buffer, 8, 3, { peek: true })).toBe(3);
    expect(buffer.toString('latin1', 8, 11)).toBe('hel');
    expect(posix.read(peer, buffer)).toBe(5);
    expect(posix.recv(peer, buffer, 0, 16, { peek: true })).toBeNull();
    expect(() => posix.recv(peer, buffer, 10, 7)).toThrow(RangeError);
    client.destroy();
  });

  it('an IPv6 socket on :: with IPV6_V6ONLY off takes IPv4 clients, given as their IPv4 address', async () => {
    const fd = posix.socket('IPv6');
    opened.push(fd);
    posix.setsockopt(fd, 'IPV6_V6ONLY', false);
    posix.bind(fd, '::', 0);
    posix.listen(fd, 5);
    posix.setNonBlocking(fd, true);
    const client = net.connect(posix.getsockname(fd).port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    let accepted: posix.AcceptedSocket | null = null;
    for (let i = 0; i < 200 && accepted === null; i++) {
      accepted = posix.accept(fd);
      if (accepted === null) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    opened.push(accepted?.fd ?? -1);
    expect(accepted).toMatchObject({ address: '127.0.0.1', port: client.localPort, family: 'IPv4' });
    client.destroy();
  });

  it('shutdown() of an unconnected socket throws ENOTCONN', () => {
    const fd = posix.socket('IPv4');
    opened.push(fd);
    expect(thrown(() => posix.shutdown(fd))).toMatchObject({ code: 'ENOTCONN', syscall: 'shutdown' });
  });

  it('rejects a host name: only numeric addresses (no resolver in a forking parent)', () => {
    const fd = posix.socket('IPv4');
    opened.push(fd);
    expect(() => posix.bind(fd, 'localhost', 0)).toThrow(TypeError);
  });
});

describe('fcntl()', () => {
  it('sets and reads O_NONBLOCK', () => {
    const [readFd, writeFd] = posix.pipe();
    opened.push(readFd, writeFd);
    expect(posix.fcntl(readFd, 'F_GETFL') & posix.constants.O_NONBLOCK).toBe(0);
    posix.setNonBlocking(readFd, true);
    expect(posix.fcntl(readFd, 'F_GETFL') & posix.constants.O_NONBLOCK).not.toBe(0);
  });

  it('reports pipes as close-on-exec', () => {
    const [readFd, writeFd] = posix.pipe();
    opened.push(readFd, writeFd);
    expect(posix.fcntl(readFd, 'F_GETFD') & posix.constants.FD_CLOEXEC).toBe(posix.constants.FD_CLOEXEC);
  });
});

describe('signal names', () => {
  it('maps names and numbers both ways', () => {
    expect(posix.signalNumber('SIGUSR1')).toBe(10);
    expect(posix.signalName(15)).toBe('SIGTERM');
  });
});

describe('sendv()', () => {
  it('sends several buffers in one call, in order, and a gone peer throws', async () => {
    const peer = await acceptedPair();
    expect(posix.sendv(peer.fd, [Buffer.from('one '), Buffer.from('two '), Buffer.from('three')], { dontWait: true })).toBe(13);
    await pollUntil(() => peer.received() === 'one two three', 5_000, `the peer to get the three (got ${JSON.stringify(peer.received())})`);
    peer.close();
    const error = await errorOnceGone(() => posix.sendv(peer.fd, [Buffer.from('anyone?')]));
    expect(['EPIPE', 'ECONNRESET']).toContain(error.code);
    expect(error.syscall).toBe('sendmsg');
  });
});
