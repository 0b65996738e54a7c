/**
 * The parent's handle on its zygote (src/parent/zygote.ts), without forking: the
 * parent's end of a socketpair is given to Zygote.adopt(), and this test plays the
 * zygote on the other end with the same wire format as src/zygote/zygote-process.ts
 * (one byte per spare wanted; each answered by an int32le pid carrying the parent's
 * end of the spare's hand-off socket, or a negative errno without a descriptor).
 */
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SPARE_STUCK_MS, SPARE_WAIT_MS, Zygote, ZygoteGoneError } from '../../src/parent/zygote.js';
import * as posix from '../../src/posix/index.js';
import { MAX_SPARES_ASKED } from '../../src/zygote/zygote-process.js';
import { pollUntil } from '../helpers/poll.js';

/** Descriptors this test opened and still owns; closed after each test. */
const owned = new Set<number>();
/** Zygote handles made by the test; each is told exited() after it (closing what it holds). */
const handles: Zygote[] = [];

function own(fd: number): number {
  owned.add(fd);
  return fd;
}

function release(fd: number): void {
  owned.delete(fd);
  posix.close(fd);
}

afterEach(() => {
  for (const zygote of handles.splice(0)) zygote.exited();
  for (const fd of owned) posix.close(fd);
  owned.clear();
});

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32LE(value, 0);
  return buffer;
}

/** The zygote's side of the control socket, played in-process. */
class FakeZygote {
  constructor(readonly fd: number) {}

  /** Bytes the parent has written since the last call: one per spare it wants. */
  takeAsks(): number {
    const buffer = Buffer.alloc(64);
    let total = 0;
    for (;;) {
      const bytes = posix.read(this.fd, buffer);
      if (bytes === null || bytes === 0) return total;
      total += bytes;
    }
  }

  /**
   * Forks nothing, but answers like a zygote that forked spare `pid`: a socketpair
   * whose parent end goes to the parent with the pid. Returns the spare's end
   * (non-blocking, so a test that finds nothing there fails instead of hanging).
   */
  sendSpare(pid: number): number {
    const [parentEnd, spareEnd] = posix.socketpair();
    own(spareEnd);
    posix.setNonBlocking(spareEnd, true);
    try {
      posix.sendFd(this.fd, parentEnd, int32(pid));
    } finally {
      posix.close(parentEnd);
    }
    return spareEnd;
  }

  /** Answers like a zygote whose fork failed: a negative errno, no descriptor. */
  sendForkError(negativeErrno: number): void {
    posix.write(this.fd, int32(negativeErrno));
  }
}

/** A Zygote adopting one end of a fresh socketpair (non-blocking, as start() makes it), and the fake on the other. */
function adopted(pid = 12345): { zygote: Zygote; fake: FakeZygote; controlFd: number } {
  const [controlFd, zygoteEnd] = posix.socketpair();
  posix.setNonBlocking(controlFd, true);
  posix.setNonBlocking(own(zygoteEnd), true);
  const zygote = new Zygote();
  handles.push(zygote);
  zygote.adopt(controlFd, pid);
  return { zygote, fake: new FakeZygote(zygoteEnd), controlFd };
}

/** A client's "socket": the write end of a pipe, whose read end shows what reaches it. */
function client(): { fd: number; readEnd: number } {
  const [readEnd, writeEnd] = posix.pipe();
  own(readEnd);
  own(writeEnd);
  posix.setNonBlocking(readEnd, true);
  return { fd: writeEnd, readEnd };
}

const noneGone = (): boolean => false;

/** What the spare receives on its end: the byte count and the descriptor (owned by the test). */
function receiveAtSpare(spareEnd: number): { bytes: number; fd: number | null } | null {
  const message = posix.recvFd(spareEnd, Buffer.alloc(16));
  if (message?.fd != null) own(message.fd);
  return message;
}

function target(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

function isOpen(fd: number): boolean {
  try {
    posix.fcntl(fd, 'F_GETFD');
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EBADF') return false;
    throw error;
  }
}

describe('Zygote before adopt()', () => {
  it('is not running and holds no descriptors', () => {
    const zygote = new Zygote();
    expect(zygote.running).toBe(false);
    expect(zygote.fds()).toEqual([]);
    expect(zygote.msUntilLate()).toBe(Infinity);
    expect(zygote.askWhenDue(0)).toBe(0);
  });
});

describe('Zygote.adopt()', () => {
  it('runs with the given pid, holds the control socket, and owes its first spare', () => {
    const { zygote, fake, controlFd } = adopted(4321);
    expect(zygote.running).toBe(true);
    expect(zygote.pid).toBe(4321);
    expect(zygote.fds()).toEqual([controlFd]);
    const left = zygote.msUntilLate();
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(SPARE_WAIT_MS);
    expect(fake.takeAsks()).toBe(0); // the first spare is owed without asking, as the zygote forks it at start
  });
});

describe('Zygote.handOff() before a spare arrives', () => {
  it('returns null and asks nothing more for one waiting client (the first spare is owed already)', () => {
    const { zygote, fake } = adopted();
    expect(zygote.handOff(client().fd, 1, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(0);
  });

  it('asks for one more spare per waiting client, up to MAX_SPARES_ASKED owed in all', () => {
    const { zygote, fake } = adopted();
    expect(MAX_SPARES_ASKED).toBeGreaterThan(1);
    expect(zygote.handOff(client().fd, 100, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(MAX_SPARES_ASKED - 1);
    expect(zygote.handOff(client().fd, 100, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(0); // already owed as many as it may be
  });

  it('asks for min(waiting, MAX_SPARES_ASKED) spares once nothing is owed', () => {
    const { zygote, fake } = adopted();
    fake.sendSpare(501);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(501);
    expect(fake.takeAsks()).toBe(0);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(1);
    fake.sendSpare(502);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(502);
    expect(zygote.handOff(client().fd, 100, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(MAX_SPARES_ASKED);
  });
});

describe('Zygote.handOff() with a spare', () => {
  it("returns the spare's pid and passes the client's descriptor to the spare's end", () => {
    const { zygote, fake } = adopted();
    const spareEnd = fake.sendSpare(777);
    const { fd: clientFd, readEnd } = client();
    expect(zygote.handOff(clientFd, 1, noneGone)).toBe(777);

    const message = receiveAtSpare(spareEnd);
    expect(message).not.toBeNull();
    expect(message?.bytes).toBe(1);
    expect(message?.fd).not.toBeNull();
    const received = message?.fd as number;
    expect(target(received)).toBe(target(clientFd)); // the same open pipe, not just any descriptor
    posix.write(received, Buffer.from('via spare'));
    const buffer = Buffer.alloc(32);
    const bytes = posix.read(readEnd, buffer);
    expect(buffer.toString('utf8', 0, bytes ?? 0)).toBe('via spare');
  });

  it("closes its end of the spare's hand-off socket once the client is handed over", () => {
    const { zygote, fake } = adopted();
    const spareEnd = fake.sendSpare(778);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(778);
    expect(receiveAtSpare(spareEnd)?.bytes).toBe(1);
    expect(receiveAtSpare(spareEnd)).toEqual({ bytes: 0, fd: null }); // then end of file
    expect(zygote.fds()).toHaveLength(1); // only the control socket
  });

  it('owes nothing once the spare it owed has come: msUntilLate() is Infinity', () => {
    const { zygote, fake } = adopted();
    fake.sendSpare(779);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(779);
    expect(zygote.msUntilLate()).toBe(Infinity);
  });

  it('skips a spare that isGone() reports exited, tells it to go (closes its socket), and uses the next', () => {
    const { zygote, fake } = adopted();
    expect(zygote.handOff(client().fd, 2, noneGone)).toBeNull(); // two owed now
    const deadSpare = fake.sendSpare(111);
    const liveSpare = fake.sendSpare(222);
    const asked: number[] = [];
    const pid = zygote.handOff(client().fd, 1, (spare) => {
      asked.push(spare);
      return spare === 111;
    });
    expect(pid).toBe(222);
    expect(asked).toEqual([111, 222]);
    expect(receiveAtSpare(deadSpare)).toEqual({ bytes: 0, fd: null });
    const handed = receiveAtSpare(liveSpare);
    expect(handed?.bytes).toBe(1);
    expect(handed?.fd).not.toBeNull();
  });

  it('skips a spare that died unreaped (EPIPE on its socket) and uses the next, without giving up on the zygote', () => {
    const { zygote, fake } = adopted();
    expect(zygote.handOff(client().fd, 2, noneGone)).toBeNull(); // two owed now
    const deadSpare = fake.sendSpare(444);
    const liveSpare = fake.sendSpare(555);
    release(deadSpare); // it exited; the parent has not reaped it yet, so isGone() says no
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(555);
    expect(zygote.running).toBe(true);
    expect(receiveAtSpare(liveSpare)?.fd).not.toBeNull();
  });

  it('returns null and asks again when every spare that came is gone', () => {
    const { zygote, fake } = adopted();
    const deadSpare = fake.sendSpare(333);
    expect(zygote.handOff(client().fd, 1, (spare) => spare === 333)).toBeNull();
    expect(receiveAtSpare(deadSpare)).toEqual({ bytes: 0, fd: null });
    expect(fake.takeAsks()).toBe(1);
    expect(zygote.msUntilLate()).toBeLessThanOrEqual(SPARE_WAIT_MS);
  });

  it('keeps a second spare that came for the next client, and lists its descriptor in fds()', () => {
    const { zygote, fake, controlFd } = adopted();
    expect(zygote.handOff(client().fd, 2, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(1);
    fake.sendSpare(401);
    const second = fake.sendSpare(402);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(401);

    const fds = zygote.fds();
    expect(fds).toHaveLength(2);
    expect(fds[0]).toBe(controlFd);
    // The other is the parent's end of spare 402's hand-off socket: what is sent on it reaches that spare.
    posix.write(fds[1] as number, Buffer.from('x'));
    expect(receiveAtSpare(second)).toEqual({ bytes: 1, fd: null });

    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(402);
    expect(fake.takeAsks()).toBe(0);
    expect(zygote.fds()).toEqual([controlFd]);
  });
});

describe('Zygote.handOff() when the zygote could not fork', () => {
  it("throws the fork's error (EAGAIN, syscall clone) for a -11 answer, and keeps the zygote", () => {
    const { zygote, fake } = adopted();
    fake.sendForkError(-11);
    let thrown: unknown;
    try {
      zygote.handOff(client().fd, 1, noneGone);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).not.toBeInstanceOf(ZygoteGoneError);
    expect(thrown).toMatchObject({ code: 'EAGAIN', errno: -11, syscall: 'clone' });
    expect(zygote.running).toBe(true);
    expect(zygote.msUntilLate()).toBe(Infinity); // the failed spare was the one owed

    // The next client asks again, and gets the spare that answers.
    expect(zygote.handOff(client().fd, 1, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(1);
    fake.sendSpare(600);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(600);
  });

  it('names -12 ENOMEM', () => {
    const { zygote, fake } = adopted();
    fake.sendForkError(-12);
    expect(() => zygote.handOff(client().fd, 1, noneGone)).toThrow(expect.objectContaining({ code: 'ENOMEM', syscall: 'clone' }));
  });

  it('refuses only the client at hand: a spare that came before the error goes to the next one', () => {
    const { zygote, fake } = adopted();
    expect(zygote.handOff(client().fd, 2, noneGone)).toBeNull();
    fake.sendSpare(700);
    fake.sendForkError(-11);
    expect(() => zygote.handOff(client().fd, 1, noneGone)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(700);
  });
});

describe('Zygote.handOff() when the zygote is gone', () => {
  it('throws ZygoteGoneError when the zygote closes the control socket while it owes a spare', () => {
    const { zygote, fake } = adopted();
    release(fake.fd);
    expect(() => zygote.handOff(client().fd, 1, noneGone)).toThrow(ZygoteGoneError);
    expect(() => zygote.handOff(client().fd, 1, noneGone)).toThrow('the zygote is gone: it closed its socket');
  });

  it('throws ZygoteGoneError when asking a closed zygote for a spare fails (EPIPE)', () => {
    const { zygote, fake } = adopted();
    fake.sendSpare(800);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(800); // nothing owed now
    release(fake.fd);
    let thrown: unknown;
    try {
      zygote.handOff(client().fd, 1, noneGone);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ZygoteGoneError);
    expect((thrown as Error).message).toMatch(/^the zygote is gone: .*EPIPE/);
  });

  it('throws ZygoteGoneError for an answer that is not 4 bytes', () => {
    const { zygote, fake } = adopted();
    posix.write(fake.fd, Buffer.from([1, 2]));
    expect(() => zygote.handOff(client().fd, 1, noneGone)).toThrow(ZygoteGoneError);
  });

  it('counts msUntilLate() down to 0, then handOff() gives up with ZygoteGoneError after SPARE_WAIT_MS', async () => {
    const before = Date.now();
    const { zygote } = adopted();
    expect(zygote.handOff(client().fd, 1, noneGone)).toBeNull(); // not late yet
    const clientFd = client().fd;

    let last = zygote.msUntilLate();
    expect(last).toBeGreaterThan(0);
    await pollUntil(
      () => {
        const left = zygote.msUntilLate();
        expect(left).toBeLessThanOrEqual(last);
        last = left;
        return left === 0;
      },
      SPARE_WAIT_MS + 5000,
      'msUntilLate() to reach 0',
    );

    let thrown: unknown;
    await pollUntil(
      () => {
        try {
          expect(zygote.handOff(clientFd, 1, noneGone)).toBeNull();
          return false;
        } catch (error) {
          thrown = error;
          return true;
        }
      },
      5000,
      'handOff() to give up',
    );
    expect(Date.now() - before).toBeGreaterThanOrEqual(SPARE_WAIT_MS);
    expect(thrown).toBeInstanceOf(ZygoteGoneError);
    expect((thrown as Error).message).toBe(`the zygote is gone: no spare child after ${SPARE_WAIT_MS} ms (stopped or stuck?)`);
  });

  it('waits for a zygote that runs and gets the CPU, however slow, and gives up on one that runs but gets none for SPARE_STUCK_MS', async () => {
    // Two stand-in zygotes that never answer: one busy on the CPU (as a zygote starved by
    // a busy machine still gets some), one asleep for good (as a stuck one).
    const busy = spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' });
    const asleep = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const slow = adopted(busy.pid).zygote;
      const stuck = adopted(asleep.pid).zygote;
      const [slowClient, stuckClient] = [client().fd, client().fd];
      const started = Date.now();
      let thrown: unknown;
      await pollUntil(
        () => {
          expect(slow.handOff(slowClient, 1, noneGone)).toBeNull();
          expect(slow.msUntilLate()).toBeLessThanOrEqual(SPARE_WAIT_MS); // looked at now and then
          try {
            expect(stuck.handOff(stuckClient, 1, noneGone)).toBeNull();
            return false;
          } catch (error) {
            thrown = error;
            return true;
          }
        },
        SPARE_STUCK_MS + 5000,
        'the stuck one to be given up on',
      );
      expect(Date.now() - started).toBeGreaterThan(SPARE_STUCK_MS);
      expect(thrown).toBeInstanceOf(ZygoteGoneError);
      expect((thrown as Error).message).toMatch(new RegExp(`no CPU time for ${SPARE_STUCK_MS} ms \\(stuck\\?\\)$`));
      expect(slow.handOff(slowClient, 1, noneGone)).toBeNull(); // still waited for
    } finally {
      busy.kill('SIGKILL');
      asleep.kill('SIGKILL');
    }
  }, SPARE_STUCK_MS + 10_000);

  it('restarts the SPARE_WAIT_MS clock at each answer while more spares are owed', async () => {
    const { zygote, fake } = adopted();
    expect(zygote.handOff(client().fd, 2, noneGone)).toBeNull(); // two owed
    await pollUntil(() => zygote.msUntilLate() < SPARE_WAIT_MS / 2, 5000, 'half the wait to pass');
    const beforeAnswer = zygote.msUntilLate();
    fake.sendSpare(900);
    expect(zygote.handOff(client().fd, 2, noneGone)).toBe(900);
    expect(zygote.msUntilLate()).toBeGreaterThan(beforeAnswer); // one still owed, but the zygote is alive
    expect(zygote.msUntilLate()).toBeLessThanOrEqual(SPARE_WAIT_MS);
  });
});

describe('Zygote.askWhenDue()', () => {
  it('asks nothing and returns 0 while no spare has been used', () => {
    const { zygote, fake } = adopted();
    expect(zygote.askWhenDue(0)).toBe(0);
    expect(fake.takeAsks()).toBe(0);
  });

  it('asks for the next spare only once delayMs have passed since the last was used', async () => {
    const delayMs = 50;
    const { zygote, fake } = adopted();
    fake.sendSpare(1001);
    const usedAt = Date.now();
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(1001);

    const left = zygote.askWhenDue(delayMs);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(delayMs);
    expect(fake.takeAsks()).toBe(0);
    expect(zygote.msUntilLate()).toBe(Infinity);

    let previous = left;
    await pollUntil(
      () => {
        const now = zygote.askWhenDue(delayMs);
        if (now > 0) {
          expect(now).toBeLessThanOrEqual(previous);
          expect(fake.takeAsks()).toBe(0); // not yet
          previous = now;
        }
        return now === 0;
      },
      5000,
      'the next spare to be due',
    );
    expect(Date.now() - usedAt).toBeGreaterThanOrEqual(delayMs);
    expect(fake.takeAsks()).toBe(1);
    expect(zygote.msUntilLate()).toBeLessThanOrEqual(SPARE_WAIT_MS); // owed now

    expect(zygote.askWhenDue(0)).toBe(0);
    expect(fake.takeAsks()).toBe(0); // asked once only
  });

  it('asks nothing when a spare is already on its way', () => {
    const { zygote, fake } = adopted();
    expect(zygote.handOff(client().fd, 2, noneGone)).toBeNull(); // two owed
    expect(fake.takeAsks()).toBe(1);
    fake.sendSpare(1101);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(1101); // one used, one still owed
    expect(zygote.askWhenDue(0)).toBe(0);
    expect(fake.takeAsks()).toBe(0);
  });

  it('asks nothing when a spare is already here', () => {
    const { zygote, fake } = adopted();
    expect(zygote.handOff(client().fd, 2, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(1);
    fake.sendSpare(1201);
    fake.sendSpare(1202);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(1201); // 1202 stays ready
    expect(zygote.askWhenDue(0)).toBe(0);
    expect(fake.takeAsks()).toBe(0);
  });

  it('asks again after a failed fork once delayMs have passed', () => {
    const { zygote, fake } = adopted();
    fake.sendForkError(-11);
    expect(() => zygote.handOff(client().fd, 1, noneGone)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    expect(zygote.askWhenDue(0)).toBe(0);
    expect(fake.takeAsks()).toBe(1);
  });

  it('does not throw when the zygote has gone; returns 0', () => {
    const { zygote, fake } = adopted();
    fake.sendSpare(1301);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(1301);
    release(fake.fd);
    expect(zygote.askWhenDue(0)).toBe(0);
  });
});

describe('Zygote.exited()', () => {
  it('closes the control socket and every spare it holds, and stops running', () => {
    const { zygote, fake, controlFd } = adopted();
    expect(zygote.handOff(client().fd, 2, noneGone)).toBeNull();
    expect(fake.takeAsks()).toBe(1);
    fake.sendSpare(1401);
    const kept = fake.sendSpare(1402);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(1401);
    const held = zygote.fds();
    expect(held).toHaveLength(2);
    expect(held.every(isOpen)).toBe(true);

    zygote.exited();
    expect(held.map(isOpen)).toEqual([false, false]); // checked at once: nothing ran to reuse the numbers
    expect(controlFd).toBe(held[0]);
    expect(zygote.running).toBe(false);
    expect(zygote.pid).toBe(0);
    expect(zygote.fds()).toEqual([]);
    expect(zygote.msUntilLate()).toBe(Infinity);
    expect(zygote.askWhenDue(0)).toBe(0);

    // Both other ends see end of file: the zygote's control socket and the kept spare.
    expect(posix.read(fake.fd, Buffer.alloc(8))).toBe(0);
    expect(receiveAtSpare(kept)).toEqual({ bytes: 0, fd: null });
  });

  it('also releases a spare still unread in the control socket, which then sees end of file', () => {
    const { zygote, fake } = adopted();
    const unread = fake.sendSpare(1501);
    expect(receiveAtSpare(unread)).toBeNull(); // alive: its other end is in flight
    zygote.exited();
    expect(receiveAtSpare(unread)).toEqual({ bytes: 0, fd: null });
  });

  it('can adopt a new zygote afterwards', () => {
    const { zygote } = adopted(1);
    zygote.exited();
    const [controlFd, zygoteEnd] = posix.socketpair();
    own(zygoteEnd);
    posix.setNonBlocking(controlFd, true);
    zygote.adopt(controlFd, 2);
    expect(zygote.running).toBe(true);
    expect(zygote.pid).toBe(2);
    expect(zygote.fds()).toEqual([controlFd]);
    const fake = new FakeZygote(zygoteEnd);
    posix.setNonBlocking(zygoteEnd, true);
    fake.sendSpare(1601);
    expect(zygote.handOff(client().fd, 1, noneGone)).toBe(1601);
  });
});
