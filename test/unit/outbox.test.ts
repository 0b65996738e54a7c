/**
 * Outbox over real sockets, in-process: the addon's socketpair() (AF_UNIX
 * SOCK_SEQPACKET: each sendmsg() arrives as one message, and the kernel takes a
 * message whole or not at all), and a loopback TCP connection (a byte stream,
 * where the kernel takes part of a buffer) for sends cut inside a buffer.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHUNK_OVERHEAD_BYTES, Outbox, type FlushResult } from '../../src/parent/outbox.js';
import { accept, bind, close, getsockname, listen, read, setNonBlocking, setsockopt, socket, socketpair } from '../../src/posix/index.js';
import { pollUntil } from '../helpers/poll.js';

/** Descriptors this file opened and has not closed yet. */
const open = new Set<number>();
const clients: net.Socket[] = [];

afterEach(() => {
  vi.useRealTimers();
  for (const fd of open) close(fd);
  open.clear();
  for (const client of clients.splice(0)) client.destroy();
});

function closeFd(fd: number): void {
  open.delete(fd);
  close(fd);
}

/** A connected socketpair: ours (the Outbox's) and theirs (the peer's, non-blocking). */
function pair(): { ours: number; theirs: number } {
  const [ours, theirs] = socketpair();
  open.add(ours);
  open.add(theirs);
  setNonBlocking(theirs, true);
  return { ours, theirs };
}

/** Larger than any message a socketpair takes with the default send buffer. */
const readBuffer = Buffer.alloc(1 << 20);

/** Everything waiting at the peer, in order. */
function drain(fd: number): Buffer {
  const parts: Buffer[] = [];
  for (;;) {
    const n = read(fd, readBuffer);
    if (n === null || n === 0) break;
    parts.push(Buffer.from(readBuffer.subarray(0, n)));
  }
  return Buffer.concat(parts);
}

/** A reproducible stream of sizes in [min, max]. */
function sizes(seed: number, min: number, max: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return min + Math.floor(unit * (max - min + 1));
  };
}

describe('Outbox#flush() over a socketpair', () => {
  it('sends several queued buffers in order in one go', () => {
    const { ours, theirs } = pair();
    const outbox = new Outbox(ours);
    outbox.enqueue(Buffer.from('one\r\n'));
    outbox.enqueue(Buffer.from('two\r\n'));
    outbox.enqueue(Buffer.from('three\r\n'));
    expect(outbox.bytes).toBe(17);
    expect(outbox.flush()).toBe('sent');
    expect(outbox.bytes).toBe(0);
    expect(outbox.stalledSince).toBe(0);
    // One message: a single sendmsg() carried all three.
    const n = read(theirs, readBuffer);
    expect(n).toBe(17);
    expect(readBuffer.subarray(0, 17).toString()).toBe('one\r\ntwo\r\nthree\r\n');
    expect(read(theirs, readBuffer)).toBeNull();
  });

  it('says sent and sends nothing when nothing is queued', () => {
    const { ours, theirs } = pair();
    const outbox = new Outbox(ours);
    outbox.enqueue(Buffer.alloc(0));
    expect(outbox.bytes).toBe(0);
    expect(outbox.flush()).toBe('sent');
    expect(read(theirs, readBuffer)).toBeNull();
  });

  it('sends nothing twice', () => {
    const { ours, theirs } = pair();
    const outbox = new Outbox(ours);
    outbox.enqueue(Buffer.from('once'));
    expect(outbox.flush()).toBe('sent');
    expect(outbox.flush()).toBe('sent');
    expect(drain(theirs).toString()).toBe('once');
  });

  it('says blocked when the peer does not read, keeps the stall time, and sends the rest once the peer has read', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t1 = new Date(2024, 0, 1, 12, 0, 0).getTime();
    vi.setSystemTime(t1);
    const { ours, theirs } = pair();
    setsockopt(ours, 'SO_SNDBUF', 1); // the smallest the kernel allows: a few KiB
    const outbox = new Outbox(ours);
    const enqueued: Buffer[] = [];
    const put = (data: Buffer): void => {
      enqueued.push(data);
      outbox.enqueue(data);
    };
    const total = (): number => enqueued.reduce((sum, b) => sum + b.length, 0);

    // Fill the socket a chunk at a time until it takes nothing more.
    let result: FlushResult = 'sent';
    for (let i = 0; i < 1000 && result !== 'blocked'; i++) {
      put(randomBytes(700));
      result = outbox.flush();
      if (result !== 'blocked') {
        expect(result).toBe('sent');
        expect(outbox.stalledSince).toBe(0);
      }
    }
    expect(result).toBe('blocked');
    expect(outbox.stalledSince).toBe(t1);
    expect(outbox.bytes).toBe(700);

    // Still blocked a while later: the stall dates from the first refusal.
    vi.setSystemTime(t1 + 5_000);
    put(randomBytes(900));
    expect(outbox.flush()).toBe('blocked');
    expect(outbox.stalledSince).toBe(t1);
    expect(outbox.bytes).toBe(1600);

    // The peer has exactly what was taken: everything but what is still queued.
    const first = drain(theirs);
    expect(first.length).toBe(total() - outbox.bytes);

    const next = outbox.flush();
    expect(next).toBe('sent');
    expect(outbox.stalledSince).toBe(0);
    expect(outbox.bytes).toBe(0);
    const rest = drain(theirs);
    expect(Buffer.concat([first, rest]).equals(Buffer.concat(enqueued))).toBe(true);
  });

  it('offers at most 128 KiB per flush: partial, with whole buffers kept, then sent', () => {
    const { ours, theirs } = pair();
    const outbox = new Outbox(ours);
    const pieces = Array.from({ length: 1500 }, (_, i) => Buffer.from(`${String(i).padStart(4, '0')},${'p'.repeat(295)}`));
    for (const piece of pieces) outbox.enqueue(piece);
    const total = Buffer.concat(pieces);
    expect(outbox.bytes).toBe(total.length);
    expect(outbox.flush()).toBe('partial');
    const first = drain(theirs);
    expect(first.length % 300).toBe(0); // whole buffers
    expect(first.length).toBeGreaterThanOrEqual(128 * 1024);
    expect(first.length).toBeLessThan(128 * 1024 + 300);
    expect(first.equals(total.subarray(0, first.length))).toBe(true);
    expect(outbox.bytes).toBe(total.length - first.length);
    const rest: Buffer[] = [];
    while (outbox.flush() === 'partial') rest.push(drain(theirs));
    expect(outbox.bytes).toBe(0);
    rest.push(drain(theirs));
    expect(Buffer.concat([first, ...rest]).equals(total)).toBe(true);
  });

  it('copies small pieces together once its queue is long, so its cost stays near its bytes', () => {
    const { ours, theirs } = pair();
    const outbox = new Outbox(ours);
    const pieces = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`${i % 100},`));
    for (const piece of pieces) outbox.enqueue(piece);
    const total = Buffer.concat(pieces);
    expect(outbox.bytes).toBe(total.length);
    // 16 pieces queued as they are, then 4 KiB buffers of copies: a few dozen entries, not 10,000.
    expect(outbox.cost - outbox.bytes).toBeLessThan(64 * CHUNK_OVERHEAD_BYTES);
    expect(outbox.cost - outbox.bytes).toBeGreaterThan(0);
    const received: Buffer[] = [];
    while (outbox.flush() !== 'sent') received.push(drain(theirs));
    received.push(drain(theirs));
    expect(Buffer.concat(received).equals(total)).toBe(true);
    expect(outbox.cost).toBe(0);
  });

  it('delivers a large random payload exactly once and in order through partial and blocked flushes', () => {
    const { ours, theirs } = pair();
    setsockopt(ours, 'SO_SNDBUF', 131_072); // the kernel doubles it: a flush of up to 128 KiB fits
    const outbox = new Outbox(ours);
    const payload = randomBytes(2_000_000);
    const next = sizes(0x5eed, 1, 100);
    let total = 0;
    for (let at = 0; at < payload.length; ) {
      const size = Math.min(next(), payload.length - at);
      outbox.enqueue(payload.subarray(at, at + size));
      at += size;
      total += size;
    }
    expect(outbox.bytes).toBe(payload.length);

    const received: Buffer[] = [];
    let receivedBytes = 0;
    const seen = new Set<FlushResult>();
    for (let turns = 0; outbox.bytes > 0; turns++) {
      expect(turns).toBeLessThan(100_000);
      const before = outbox.bytes;
      const result = outbox.flush();
      seen.add(result);
      expect(result).not.toBe('gone');
      if (result === 'blocked') {
        expect(outbox.bytes).toBe(before);
        expect(outbox.stalledSince).toBeGreaterThan(0);
        const got = drain(theirs);
        received.push(got);
        receivedBytes += got.length;
        // The counter is exactly what the kernel has not taken.
        expect(receivedBytes).toBe(total - outbox.bytes);
      } else {
        expect(outbox.bytes).toBeLessThan(before);
        expect(outbox.stalledSince).toBe(0);
      }
    }
    received.push(drain(theirs));
    expect(seen).toEqual(new Set(['partial', 'blocked', 'sent']));
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });

  it('says gone once the peer has closed, and drops the queue', () => {
    const { ours, theirs } = pair();
    const outbox = new Outbox(ours);
    closeFd(theirs);
    outbox.enqueue(Buffer.from('anyone there?'));
    expect(outbox.flush()).toBe('gone');
    expect(outbox.bytes).toBe(0);
    expect(outbox.flush()).toBe('sent'); // nothing left to try
  });

  it('forgets its stall when the blocked peer goes away', () => {
    const { ours, theirs } = pair();
    setsockopt(ours, 'SO_SNDBUF', 1);
    const outbox = new Outbox(ours);
    let result: FlushResult = 'sent';
    for (let i = 0; i < 1000 && result !== 'blocked'; i++) {
      outbox.enqueue(Buffer.alloc(500, 0x41));
      result = outbox.flush();
    }
    expect(result).toBe('blocked');
    expect(outbox.stalledSince).toBeGreaterThan(0);
    closeFd(theirs);
    expect(outbox.flush()).toBe('gone');
    expect(outbox.bytes).toBe(0);
    expect(outbox.stalledSince).toBe(0);
  });
});

describe('Outbox#clear()', () => {
  it('drops everything queued, so nothing is sent', () => {
    const { ours, theirs } = pair();
    const outbox = new Outbox(ours);
    outbox.enqueue(Buffer.from('dropped'));
    outbox.enqueue(Buffer.from(' too'));
    outbox.clear();
    expect(outbox.bytes).toBe(0);
    expect(outbox.flush()).toBe('sent');
    expect(read(theirs, readBuffer)).toBeNull();
    outbox.enqueue(Buffer.from('after'));
    expect(outbox.flush()).toBe('sent');
    expect(drain(theirs).toString()).toBe('after');
  });

  it('resets the stall time', () => {
    const { ours } = pair();
    setsockopt(ours, 'SO_SNDBUF', 1);
    const outbox = new Outbox(ours);
    let result: FlushResult = 'sent';
    for (let i = 0; i < 1000 && result !== 'blocked'; i++) {
      outbox.enqueue(Buffer.alloc(500, 0x42));
      result = outbox.flush();
    }
    expect(result).toBe('blocked');
    expect(outbox.stalledSince).toBeGreaterThan(0);
    outbox.clear();
    expect(outbox.stalledSince).toBe(0);
    expect(outbox.bytes).toBe(0);
  });
});

describe('Outbox#flush() over a TCP stream', () => {
  /** Our end (a raw descriptor from the addon) of a loopback connection, and the peer as a node:net client. */
  async function connection(): Promise<{ fd: number; receivedBytes: () => number; received: () => Buffer }> {
    const listener = socket('IPv4');
    open.add(listener);
    bind(listener, '127.0.0.1', 0);
    listen(listener, 1);
    const client = net.connect({ port: getsockname(listener).port, host: '127.0.0.1' });
    clients.push(client);
    const chunks: Buffer[] = [];
    let bytes = 0;
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    const accepted = accept(listener);
    if (accepted === null) throw new Error('no connection to accept');
    open.add(accepted.fd);
    closeFd(listener);
    return { fd: accepted.fd, receivedBytes: () => bytes, received: () => Buffer.concat(chunks) };
  }

  it('keeps the unsent end of a partly sent buffer and delivers a large payload exactly', async () => {
    const { fd, receivedBytes, received } = await connection();
    setsockopt(fd, 'SO_SNDBUF', 1);
    const outbox = new Outbox(fd);
    const payload = randomBytes(1_000_000);
    const next = sizes(0xc0ffee, 1, 40_000);
    /** Where each queued buffer ends in the payload: a send that ends elsewhere cut a buffer. */
    const boundaries = new Set<number>([0]);
    for (let at = 0; at < payload.length; ) {
      const size = Math.min(next(), payload.length - at);
      outbox.enqueue(payload.subarray(at, at + size));
      at += size;
      boundaries.add(at);
    }
    const seen = new Set<FlushResult>();
    let cutInside = 0;
    const deadline = Date.now() + 20_000;
    while (outbox.bytes > 0) {
      expect(Date.now()).toBeLessThan(deadline);
      const before = outbox.bytes;
      const result = outbox.flush();
      seen.add(result);
      expect(result).not.toBe('gone');
      if (result === 'blocked') {
        expect(outbox.bytes).toBe(before);
        // Let the client read, then check the counter: the kernel took exactly what is not queued.
        await new Promise((resolve) => setImmediate(resolve));
        await pollUntil(() => receivedBytes() === payload.length - outbox.bytes, 5_000, 'the client to read what was sent');
      } else {
        expect(outbox.bytes).toBeLessThan(before);
        if (!boundaries.has(payload.length - outbox.bytes)) cutInside++;
      }
    }
    await pollUntil(() => receivedBytes() >= payload.length, 5_000, 'the whole payload');
    expect(seen.has('partial')).toBe(true);
    expect(seen.has('blocked')).toBe(true);
    expect(cutInside).toBeGreaterThan(0);
    expect(received().length).toBe(payload.length);
    expect(received().equals(payload)).toBe(true);
  });
});
