/**
 * Bad arguments to the posix wrappers: each is refused with the right error class and
 * message before any system call, and nothing was done. Both layers are checked: the
 * TypeScript wrappers (src/posix/*.ts) and the addon on its own (the raw binding), whose
 * checks (native/helpers.cc) must hold for any caller. Nothing here forks.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../src/posix/binding.js';
import * as posix from '../src/posix/index.js';

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

function own<T extends number[]>(...fds: T): T {
  opened.push(...fds);
  return fds;
}

/** A pipe whose read end does not block, so "nothing arrived" is a null read, not a hang. */
function pipe(): [number, number] {
  const [readFd, writeFd] = own(...posix.pipe());
  posix.setNonBlocking(readFd, true);
  return [readFd, writeFd];
}

/** A socketpair (AF_UNIX SOCK_SEQPACKET) whose second end does not block. */
function socketpair(): [number, number] {
  const [left, right] = own(...posix.socketpair());
  posix.setNonBlocking(right, true);
  return [left, right];
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

/** Runs `fn` through both layers (`wrapped` and the raw binding) and expects the same refusal from each. */
function refusedByBoth(
  wrapped: () => unknown,
  raw: () => unknown,
  kind: typeof TypeError | typeof RangeError,
  message: string | RegExp,
): void {
  for (const [layer, fn] of [['wrapper', wrapped], ['addon', raw]] as const) {
    const error = thrown(fn);
    expect(error, `${layer}: ${error.message}`).toBeInstanceOf(kind);
    expect(error.message, layer).toMatch(message);
    expect(error.code, layer).toEqual(kind === RangeError ? 'ERR_OUT_OF_RANGE' : expect.stringMatching(/^ERR_INVALID_ARG_(TYPE|VALUE)$/));
  }
}

/** Any value passed as any type, for calls a typed caller could not make. */
const anything = (value: unknown): never => value as never;

const FD_RULE = 'a whole number from 0 to 2147483647';

describe('descriptors', () => {
  it('close(2 ** 32 + 1) throws a RangeError and fd 1 stays open (an int32 cast would close it)', () => {
    const error = thrown(() => posix.close(2 ** 32 + 1));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe(`Expected "fd" to be ${FD_RULE}, got 4294967297`);
    expect(existsSync('/proc/self/fd/1')).toBe(true);
  });

  it('the addon itself refuses 2 ** 32 + fd: the descriptor it would wrap to stays open', () => {
    const [readFd, writeFd] = pipe();
    refusedByBoth(() => posix.close(2 ** 32 + writeFd), () => native.close(2 ** 32 + writeFd), RangeError, `got ${2 ** 32 + writeFd}`);
    expect(posix.write(writeFd, Buffer.from('still open'))).toBe(10);
    expect(posix.read(readFd, Buffer.alloc(16))).toBe(10);
  });

  it('refuses negative, fractional, NaN and non-number descriptors with a TypeError', () => {
    for (const fd of [-1, -0.5, 1.5, NaN, Infinity]) {
      refusedByBoth(() => posix.close(fd), () => native.close(fd), TypeError, `Expected "fd" to be ${FD_RULE}, got ${String(fd)}`);
    }
    refusedByBoth(() => posix.close(anything('1')), () => native.close(anything('1')), TypeError, 'got a string');
    refusedByBoth(() => posix.close(anything(undefined)), () => native.close(anything(undefined)), TypeError, 'got undefined');
    expect(existsSync('/proc/self/fd/1')).toBe(true);
  });

  it('dup2() names the bad descriptor and replaces nothing', () => {
    const [readFd, writeFd] = pipe();
    refusedByBoth(() => posix.dup2(writeFd, 2 ** 32 + readFd), () => native.dup2(writeFd, 2 ** 32 + readFd), RangeError, '"newFd"');
    refusedByBoth(() => posix.dup2(-1, readFd), () => native.dup2(-1, readFd), TypeError, '"oldFd"');
    posix.write(writeFd, Buffer.from('x'));
    expect(posix.read(readFd, Buffer.alloc(4))).toBe(1); // readFd is still the pipe's read end
  });

  it('fcntl() refuses an argument outside int32', () => {
    const [readFd] = pipe();
    refusedByBoth(() => posix.fcntl(readFd, 'F_SETFD', 2 ** 32), () => native.fcntl(readFd, 'F_SETFD', 2 ** 32), RangeError, '"arg"');
    refusedByBoth(() => posix.fcntl(readFd, 'F_SETFD', 0.5), () => native.fcntl(readFd, 'F_SETFD', 0.5), TypeError, '"arg"');
  });
});

describe('read() and write()', () => {
  it('read() with a NaN length throws a TypeError and reads nothing', () => {
    const [readFd, writeFd] = pipe();
    posix.write(writeFd, Buffer.from('abc'));
    const message = 'Expected "length" to be a whole number within the buffer, got NaN';
    refusedByBoth(() => posix.read(readFd, Buffer.alloc(8), 0, NaN), () => native.read(readFd, Buffer.alloc(8), 0, NaN), TypeError, message);
    const into = Buffer.alloc(8);
    expect(posix.read(readFd, into)).toBe(3); // still all there
    expect(into.toString('utf8', 0, 3)).toBe('abc');
  });

  it('write() with an offset past the end throws a RangeError and writes nothing', () => {
    const [readFd, writeFd] = pipe();
    const message = /^Expected "offset" to be a whole number within the buffer, got 5 \(offset out of range: the buffer holds 4 bytes\)$/;
    refusedByBoth(() => posix.write(writeFd, Buffer.alloc(4), 5), () => native.write(writeFd, Buffer.alloc(4), 5), RangeError, message);
    refusedByBoth(() => posix.write(writeFd, Buffer.alloc(4), 2, 3), () => native.write(writeFd, Buffer.alloc(4), 2, 3), RangeError, /length out of range: at most 2 bytes after offset 2/);
    expect(posix.read(readFd, Buffer.alloc(8))).toBeNull();
  });

  it('refuses negative, fractional and infinite offsets and lengths, and a buffer that is not a Uint8Array', () => {
    const [readFd, writeFd] = pipe();
    const buffer = Buffer.alloc(8);
    for (const bad of [-1, 0.5, Infinity, -Infinity]) {
      refusedByBoth(() => posix.write(writeFd, buffer, bad), () => native.write(writeFd, buffer, bad), TypeError, '"offset"');
      refusedByBoth(() => posix.read(readFd, buffer, 0, bad), () => native.read(readFd, buffer, 0, bad), TypeError, '"length"');
    }
    refusedByBoth(() => posix.write(writeFd, buffer, anything('1')), () => native.write(writeFd, buffer, anything('1')), TypeError, 'got a string');
    refusedByBoth(() => posix.write(writeFd, anything('text')), () => native.write(writeFd, anything('text')), TypeError, 'Expected "buffer" to be a Buffer or Uint8Array, got a string');
    refusedByBoth(() => posix.write(writeFd, anything(new Uint16Array(4))), () => native.write(writeFd, anything(new Uint16Array(4))), TypeError, '"buffer"');
    expect(posix.read(readFd, buffer)).toBeNull(); // nothing was written
  });

  it('still takes a missing offset or length as 0 and the rest, and a range that ends at the end', () => {
    const [readFd, writeFd] = pipe();
    expect(posix.write(writeFd, Buffer.from('abcdef'), undefined, 2)).toBe(2);
    expect(posix.write(writeFd, Buffer.from('abcdef'), 4)).toBe(2);
    expect(posix.write(writeFd, Buffer.from('abcdef'), 6, 0)).toBe(0);
    const into = Buffer.alloc(4);
    expect(posix.read(readFd, into)).toBe(4);
    expect(into.toString()).toBe('abef');
  });
});

describe('sigtimedwait()', () => {
  it('refuses a timeout that is not a finite number >= 0 (TypeError) or is too long (RangeError)', () => {
    const rule = 'a number of seconds from 0 to 2147483647';
    for (const bad of [NaN, Infinity, -Infinity, -0.5, -1]) {
      refusedByBoth(() => posix.sigtimedwait(['SIGUSR1'], bad), () => native.sigtimedwait([10], bad), TypeError, `Expected "timeoutSeconds" to be ${rule}, got ${String(bad)}`);
    }
    refusedByBoth(() => posix.sigtimedwait(['SIGUSR1'], anything('1')), () => native.sigtimedwait([10], anything('1')), TypeError, 'got a string');
    refusedByBoth(() => posix.sigtimedwait(['SIGUSR1'], 2 ** 31), () => native.sigtimedwait([10], 2 ** 31), RangeError, 'got 2147483648');
  });

  it('takes fractions of a second', () => {
    expect(posix.sigtimedwait(['SIGUSR2'], 0.001)).toBeNull();
  });
});

describe('kill(), waitpid(), _exit() and signal numbers', () => {
  it('refuses a pid outside int32 instead of wrapping it (2 ** 32 + pid would be pid)', () => {
    const pid = process.pid;
    refusedByBoth(() => posix.kill(2 ** 32 + pid, 0), () => native.kill(2 ** 32 + pid, 0), RangeError, '"pid" to be a whole number from -2147483648 to 2147483647');
    refusedByBoth(() => posix.kill(1.5, 0), () => native.kill(1.5, 0), TypeError, '"pid"');
    refusedByBoth(() => posix.waitpid(NaN), () => native.waitpid(NaN, 0), TypeError, '"pid"');
    refusedByBoth(() => posix.waitpid(-1, 2 ** 31), () => native.waitpid(-1, 2 ** 31), RangeError, '"flags"');
    refusedByBoth(() => posix._exit(0.5), () => native._exit(0.5), TypeError, '"code"');
  });

  it('refuses a signal number that is not one (2 ** 32 would wrap to 0, NaN became 0)', () => {
    const pid = process.pid;
    refusedByBoth(() => posix.kill(pid, 2 ** 32), () => native.kill(pid, 2 ** 32), RangeError, '"signal"');
    refusedByBoth(() => posix.kill(pid, NaN), () => native.kill(pid, NaN), TypeError, '"signal"');
    refusedByBoth(() => posix.kill(pid, 65), () => native.kill(pid, 65), RangeError, 'got 65');
    refusedByBoth(() => posix.sigprocmask('block', [1.5]), () => native.sigprocmask('block', [1.5]), TypeError, '"signal"');
  });

  it('refuses a resource limit that is neither -1 nor a whole number >= 0, changing nothing', () => {
    const before = posix.getrlimit('RLIMIT_NOFILE');
    refusedByBoth(() => posix.setrlimit('RLIMIT_NOFILE', NaN, before.hard), () => native.setrlimit('RLIMIT_NOFILE', NaN, before.hard), TypeError, '"soft"');
    refusedByBoth(() => posix.setrlimit('RLIMIT_NOFILE', before.soft, -2), () => native.setrlimit('RLIMIT_NOFILE', before.soft, -2), RangeError, '"hard"');
    expect(posix.getrlimit('RLIMIT_NOFILE')).toEqual(before);
  });
});

describe('sockets', () => {
  it('bind(), listen() and setsockopt() refuse bad numbers', () => {
    const fd = own(posix.socket('IPv4'))[0];
    refusedByBoth(() => posix.bind(fd, '127.0.0.1', 65536), () => native.bind(fd, '127.0.0.1', 65536), RangeError, '"port" to be a whole number from 0 to 65535');
    refusedByBoth(() => posix.bind(fd, '127.0.0.1', -1), () => native.bind(fd, '127.0.0.1', -1), TypeError, '"port"');
    refusedByBoth(() => posix.listen(fd, NaN), () => native.listen(fd, NaN), TypeError, '"backlog"');
    refusedByBoth(() => posix.setsockopt(fd, 'SO_RCVTIMEO', -1), () => native.setsockopt(fd, 'SO_RCVTIMEO', -1), TypeError, '"value"');
    refusedByBoth(() => posix.setsockopt(fd, 'SO_SNDBUF', 2 ** 31), () => native.setsockopt(fd, 'SO_SNDBUF', 2 ** 31), RangeError, '"value"');
    expect(posix.getsockname(fd).port).toBe(0); // never bound
  });
});

describe('sendv()', () => {
  it('throws a TypeError naming a non-Buffer element before sending anything', () => {
    const [left, right] = socketpair();
    const list = anything([Buffer.from('first'), 'second']);
    refusedByBoth(() => posix.sendv(left, list), () => native.sendv(left, list, 0), TypeError, 'Expected "buffers[1]" to be a Buffer or Uint8Array, got a string');
    refusedByBoth(() => posix.sendv(left, anything('text')), () => native.sendv(left, anything('text'), 0), TypeError, 'Expected "buffers" to be an array of Buffers, got a string');
    expect(posix.read(right, Buffer.alloc(64))).toBeNull(); // the peer received nothing
  });

  it('checks the elements as the addon reads them, not as they were when the wrapper looked', () => {
    const [left, right] = socketpair();
    let reads = 0;
    const list = [Buffer.from('first')];
    Object.defineProperty(list, 1, { get: () => (++reads === 1 ? Buffer.from('second') : 'not a buffer'), enumerable: true });
    expect(() => posix.sendv(left, list)).toThrow(/^Expected "buffers\[1\]" to be a Buffer or Uint8Array, got a string$/);
    expect(reads).toBe(2); // once by the wrapper, once by the addon
    expect(posix.read(right, Buffer.alloc(64))).toBeNull();
  });

  it('takes the data pointers only after every element is read: a getter that detaches an earlier buffer cannot make it send freed memory', () => {
    const [left, right] = socketpair();
    const detached = new Uint8Array(new ArrayBuffer(4096)).fill(0x41); // its own ArrayBuffer, not Buffer's shared pool
    const second = new Uint8Array(new ArrayBuffer(6)).fill(0x42);
    let reads = 0;
    const list = [detached];
    Object.defineProperty(list, 1, {
      get: () => {
        // The addon's read (the wrapper's is the first): move the first element's memory away.
        if (++reads === 2) structuredClone(detached.buffer, { transfer: [detached.buffer] });
        return second;
      },
      enumerable: true,
    });
    expect(posix.sendv(left, list)).toBe(6);
    expect(detached.byteLength).toBe(0);
    const into = Buffer.alloc(8192);
    expect(posix.read(right, into)).toBe(6);
    expect(into.toString('latin1', 0, 6)).toBe('BBBBBB');
  });
});

describe('recvFd()', () => {
  it('reports a message longer than the buffer with truncated: true, and only then', () => {
    const [left, right] = socketpair();
    posix.write(left, Buffer.from('0123456789'));
    posix.write(left, Buffer.from('ok'));
    const buffer = Buffer.alloc(4);
    expect(posix.recvFd(right, buffer)).toEqual({ bytes: 4, fd: null, truncated: true });
    expect(buffer.toString()).toBe('0123');
    const next = posix.recvFd(right, buffer);
    expect(next).toEqual({ bytes: 2, fd: null }); // the rest of the long one is gone; the next is whole
    expect(next).not.toHaveProperty('truncated');
  });

  it('still hands over the descriptor of a truncated message', () => {
    const [left, right] = socketpair();
    const [readFd, writeFd] = pipe();
    posix.sendFd(left, writeFd, Buffer.from('a long message'));
    const message = posix.recvFd(right, Buffer.alloc(2));
    expect(message).toMatchObject({ bytes: 2, truncated: true });
    const fd = message?.fd ?? -1;
    own(fd);
    posix.write(fd, Buffer.from('via the copy'));
    expect(posix.read(readFd, Buffer.alloc(32))).toBe(12);
  });

  it('refuses an empty buffer (an empty message would look like the end of the connection)', () => {
    const [left, right] = socketpair();
    posix.write(left, Buffer.from('x'));
    refusedByBoth(() => posix.recvFd(right, Buffer.alloc(0)), () => native.recvFd(right, Buffer.alloc(0)), RangeError, '"buffer" to hold at least one byte');
    refusedByBoth(() => posix.sendFd(left, left, Buffer.alloc(0)), () => native.sendFd(left, left, Buffer.alloc(0)), RangeError, '"buffer" to hold at least one byte');
    refusedByBoth(() => posix.recvFd(2 ** 32 + right, Buffer.alloc(1)), () => native.recvFd(2 ** 32 + right, Buffer.alloc(1)), RangeError, '"socket"');
    expect(posix.recvFd(right, Buffer.alloc(4))).toEqual({ bytes: 1, fd: null }); // the message is still there
  });
});

// Provoking MSG_CTRUNC takes a peer that sends several descriptors in one message, which
// the addon never does: python3 (socket.send_fds) plays it, on our end of a socketpair
// handed to it as its fd 3. A separate process, not a fork of the test worker.
const hasPython = spawnSync('python3', ['-c', 'import socket; socket.send_fds']).status === 0;
const inCI = process.env.CI === 'true';
/** Sends, on its fds 3, 4 and 5, one message carrying 3, 2 and 1 descriptors. */
const SEND_FDS = [
  'import os, socket',
  'for fd, count in ((3, 3), (4, 2), (5, 1)):',
  '    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(count)]',
  '    socket.send_fds(socket.socket(fileno=fd), [b"pid!"], fds)',
].join('\n');

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('recvFd() with more descriptors than it takes', () => {
  if (!hasPython && inCI) {
    it('has python3 (>= 3.9) to send several descriptors in one message (required under CI)', () => {
      throw new Error('python3 with socket.send_fds is missing: install python3');
    });
    return;
  }

  /** Our receiving ends of three socketpairs, each holding python's message of 3, 2 and 1 descriptors. */
  const received: Record<'three' | 'two' | 'one', number> = { three: -1, two: -1, one: -1 };
  const kept: number[] = [];
  beforeAll(() => {
    if (!hasPython) return;
    const pairs = [posix.socketpair(), posix.socketpair(), posix.socketpair()];
    kept.push(...pairs.flat());
    for (const [, right] of pairs) posix.setNonBlocking(right, true);
    // One python for the three (its start-up is slow on a busy machine).
    const result = spawnSync('python3', ['-c', SEND_FDS], { stdio: ['ignore', 'ignore', 'pipe', ...pairs.map(([left]) => left)], encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`python3 failed (${result.status ?? result.signal}): ${result.stderr}`);
    [received.three, received.two, received.one] = pairs.map(([, right]) => right) as [number, number, number];
  }, 90_000);
  afterAll(() => {
    for (const fd of kept.splice(0)) posix.close(fd);
  });

  it.skipIf(!hasPython)('closes what arrived and throws ERR_POSIX_CTRUNC when the kernel cut the control data (MSG_CTRUNC)', () => {
    // Room for one: the kernel installs what fits (two, on x86-64) and sets MSG_CTRUNC.
    const before = openDescriptors();
    const error = thrown(() => posix.recvFd(received.three, Buffer.alloc(8)));
    expect(error).toMatchObject({ code: 'ERR_POSIX_CTRUNC', syscall: 'recvmsg', bytes: 4 });
    expect(error.message).toMatch(/MSG_CTRUNC/);
    expect(openDescriptors()).toBe(before); // every descriptor that arrived was closed
    expect(posix.recvFd(received.three, Buffer.alloc(8))).toBeNull(); // and the message is consumed
  });

  it.skipIf(!hasPython)('closes both and throws ERR_POSIX_CTRUNC when two descriptors fit where one was expected', () => {
    const before = openDescriptors();
    const error = thrown(() => posix.recvFd(received.two, Buffer.alloc(8)));
    expect(error).toMatchObject({ code: 'ERR_POSIX_CTRUNC', syscall: 'recvmsg' });
    expect(error.message).toMatch(/2 descriptors where one was expected/);
    expect(openDescriptors()).toBe(before);
  });

  it.skipIf(!hasPython)('takes a single descriptor from the same peer as before', () => {
    const message = posix.recvFd(received.one, Buffer.alloc(8));
    expect(message).toMatchObject({ bytes: 4 });
    expect(message?.fd).toEqual(expect.any(Number));
    own(message?.fd ?? -1);
  });
});
