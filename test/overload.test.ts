/**
 * Overload: senders faster than the readers slow down (the parent stops reading the
 * pipe, the children stop reading their clients, TCP pushes back); readers are not cut
 * for it. Only a reader that takes nothing is cut. Real server, real sockets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, join, TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { ROOT, startServer, stopAllServers } from './helpers/server.js';

const sockets: net.Socket[] = [];
const clients: TestClient[] = [];
const helpers: ChildProcess[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const client of clients.splice(0)) client.close();
  closeClients();
  for (const helper of helpers.splice(0)) helper.kill('SIGKILL');
  await stopAllServers();
});

/** Peak and current resident memory of a process, in KiB. */
function memoryKiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]);
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

/**
 * A client that sends `lines` lines tagged with its number and counts, without keeping
 * them, the tagged lines it receives from each other sender: how many, and the sum of
 * their sequence numbers (a lost line and a duplicate do not cancel out in both).
 */
class Counter {
  readonly count = new Map<number, number>();
  readonly sum = new Map<number, number>();
  welcomed = false;
  closed = false;
  private carry = '';

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      const text = this.carry + chunk;
      const end = text.lastIndexOf('\n');
      this.carry = text.slice(end + 1);
      for (const match of text.slice(0, end + 1).matchAll(/#L c(\d+) n(\d+) /g)) {
        const from = Number(match[1]);
        this.count.set(from, (this.count.get(from) ?? 0) + 1);
        this.sum.set(from, (this.sum.get(from) ?? 0) + Number(match[2]));
      }
      if (!this.welcomed && text.includes('Type /help')) this.welcomed = true;
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<Counter> {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const counter = new Counter(socket);
    await pollUntil(() => counter.welcomed, 5_000, 'the welcome');
    return counter;
  }

  total(): number {
    let total = 0;
    for (const n of this.count.values()) total += n;
    return total;
  }
}

describe('overload', () => {
  it('slows 20 fast senders down instead of cutting readers: 760,000 deliveries of 400 bytes, none lost; a reader that takes nothing is cut; memory stays bounded', async () => {
    const sendq = 256 * 1024;
    const server = await startServer(['--rate-limit', '0', '--max-per-ip', '0', '--history', '0', '--log-level', 'warn']);
    const silent = spawn('python3', [path.join(ROOT, 'test/fixtures/silent-client.py'), String(server.port), '120'], { stdio: ['ignore', 'pipe', 'inherit'] });
    helpers.push(silent);
    await new Promise((resolve) => silent.stdout.once('data', resolve));
    const readers: Counter[] = [];
    for (let i = 0; i < 20; i++) readers.push(await Counter.connect(server.port));
    const before = memoryKiB(server.pid);
    const lines = 2_000;
    readers.forEach((reader, c) => {
      let burst = '';
      for (let n = 0; n < lines; n++) burst += `#L c${c} n${n} ${'x'.repeat(380)}\r\n`;
      reader.socket.write(burst);
    });
    const expected = (readers.length - 1) * lines;
    await pollUntil(() => readers.every((reader) => reader.total() >= expected || reader.closed), 240_000, 'every line to every reader'); // seconds alone, minutes on a busy machine
    const sum = (lines * (lines - 1)) / 2;
    for (const [c, reader] of readers.entries()) {
      expect(reader.closed, `reader ${c} was cut`).toBe(false);
      for (let from = 0; from < readers.length; from++) {
        if (from === c) continue;
        expect(reader.count.get(from), `reader ${c} from ${from}`).toBe(lines);
        expect(reader.sum.get(from), `reader ${c} from ${from}`).toBe(sum);
      }
    }
    await pollUntil(() => /disconnect .*: kicked \(too slow/.test(server.stderr()), 5_000, 'the silent client to be cut');
    expect(server.stderr()).not.toMatch(/kicked \(too slow[^\n]*\n[^]*kicked \(too slow/); // only the silent one
    // The bound docs/architecture.md states: per client, a send queue and what one pipe
    // read can add to it (two 64 KiB reads' worth); measured here: about 3 MiB in all.
    const after = memoryKiB(server.pid);
    // + 40 MiB for V8's own heap, whose young generation alone grows by tens of MiB at this
    // allocation rate on Node 24 (37 MiB in all seen there). Unbounded queues would hold
    // 15 MB per reader, 300 MB in all: still far above the bound.
    const boundKiB = (21 * (sendq + 2 * 64 * 1024)) / 1024 + 40 * 1024;
    expect(after.peak - before.rss).toBeLessThan(boundKiB);
  }, 300_000);

  it('charges telnet negotiation to its sender: a flood of requests gets it cut, the others chat on, and the parent stays small', async () => {
    const server = await startServer(['--log-level', 'info']);
    // Default flood control, which this test is about: the flooder's answers cost it four
    // tokens or more a burst (a read of 16 KiB at most makes one record), while the ticks
    // rotate over four talkers, a quarter of a token each a burst: the flooder runs dry
    // however fast or slow the machine goes, and no talker does.
    const talkers = [await join(server), await join(server), await join(server), await join(server)];
    const [bob, flooder] = [await join(server), await join(server)];
    const before = memoryKiB(server.pid);
    // IAC DO TIMING-MARK, which a client must answer each time: 20,000 of them a burst.
    const burst = Buffer.alloc(60_000);
    for (let at = 0; at < burst.length; at += 3) burst.set([255, 253, 6], at);
    let bursts = 0;
    let most = before.rss;
    while (!flooder.closed && bursts < 500) {
      flooder.send(burst);
      bursts++;
      talkers[bursts % talkers.length]?.send(`tick ${bursts}\r\n`);
      await bob.waitFor(`tick ${bursts}\r\n`, 10_000); // the others chat on, burst after burst
      most = Math.max(most, memoryKiB(server.pid).rss);
    }
    expect(flooder.closed).toBe(true);
    // The log line may come a moment after the client saw its connection close.
    await pollUntil(() => /kicked \(flooding\)/.test(server.stderr()), 5_000, 'the kick in the log');
    // Each read's answers are one record, charged like a line: nothing piles up in the parent.
    expect(most - before.rss).toBeLessThan(8 * 1024);
  }, 60_000);

  it('never cuts the target of a /msg flood who pauses reading: the senders are told instead', async () => {
    const server = await startServer(['--rate-limit', '0', '--max-per-ip', '0', '--log-level', 'info']);
    const target = await TestClient.connect(server.port);
    clients.push(target);
    await target.waitFor('Type /help');
    target.send('/nick target\r\n');
    await target.waitFor('You are now known as target');
    target.socket.pause(); // Ctrl-S, a phone in a tunnel
    const senders: TestClient[] = [];
    for (let i = 0; i < 20; i++) {
      const sender = await TestClient.connect(server.port);
      clients.push(sender);
      senders.push(sender);
      await sender.waitFor('Type /help');
    }
    const text = 'y'.repeat(480);
    // More than the kernel's socket buffers can hold for a reader that has stopped.
    for (let round = 0; round < 40; round++) {
      for (const sender of senders) sender.send(Array.from({ length: 20 }, () => `/msg target ${text}\r\n`).join(''));
    }
    await pollUntil(() => senders.some((sender) => sender.text.includes('target is not reading right now')), 20_000, 'a sender to be told');
    target.socket.resume();
    await pollUntil(() => target.text.includes(text), 10_000, 'the target to get its messages');
    expect(target.closed).toBe(false);
    expect(server.stderr()).not.toMatch(/kicked/);
    target.send('still here\r\n');
    await senders[0]?.waitFor('still here');
  }, 60_000);
});
