/**
 * The load generator: C clients connect to a chat server; each sends M lines of
 * S bytes, in a burst or at a set rate. Every line carries its sender, sequence
 * number and send time, so each receiver can count losses, duplicates and
 * end-to-end latency whatever the server wraps around the line.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface LoadOptions {
  port: number;
  clients: number;
  lines: number;
  bytes: number;
  /** Lines a second per client; 0 sends everything in one burst. */
  rate: number;
  /** Stop waiting for deliveries this long after the last send. */
  drainTimeoutMs: number;
  /**
   * A burst's writes: 'line', one write() per line, as a chat client sends them (telnet
   * sends each line as the user presses Enter); 'all', each client's lines in one write().
   */
  burstWrites?: 'line' | 'all';
}

export interface LoadResult {
  deliveries: number;
  expected: number;
  lost: number;
  duplicated: number;
  /** From the first send to the last delivery. */
  seconds: number;
  latencyMs: number[];
}

/** `~B<sender>:<seq>:<sent ms>~`, padded to the line size. */
const MARK = /~B(\d+):(\d+):([\d.]+)~/g;

export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function line(sender: number, seq: number, bytes: number): string {
  const mark = `~B${sender}:${seq}:${now().toFixed(3)}~`;
  return mark + 'x'.repeat(Math.max(0, bytes - mark.length)) + '\r\n';
}

/**
 * @param settled resolves once the server has taken every connection in (our server:
 *   a child per client); then `onReady` runs and the clock starts.
 */
export async function runLoad(options: LoadOptions, settled: () => Promise<void>, onReady?: () => void): Promise<LoadResult> {
  const { clients: count, lines, bytes, rate } = options;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i++) sockets.push(await connect(options.port));
  // counts[receiver][sender * lines + seq]
  const counts = sockets.map(() => new Uint8Array(count * lines));
  const latencyMs: number[] = [];
  let deliveries = 0;
  let duplicated = 0;
  let lastDelivery = 0;
  sockets.forEach((socket, receiver) => {
    let pending = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      const text = pending + chunk;
      const end = text.lastIndexOf('\n');
      pending = end === -1 ? text : text.slice(end + 1);
      if (end === -1) return;
      const at = now();
      const seen = counts[receiver] as Uint8Array;
      for (const match of text.slice(0, end).matchAll(MARK)) {
        const index = Number(match[1]) * lines + Number(match[2]);
        if ((seen[index] as number) > 0) duplicated++;
        else deliveries++;
        seen[index] = Math.min(255, (seen[index] as number) + 1);
        latencyMs.push(at - Number(match[3]));
        lastDelivery = at;
      }
    });
    socket.on('error', () => {});
  });
  await settled();
  // Let every server greet every client before the clock starts.
  await new Promise((resolve) => setTimeout(resolve, 200));
  onReady?.();
  const expected = count * (count - 1) * lines;
  const firstSend = now();
  if (rate === 0) {
    if (options.burstWrites === 'all') {
      sockets.forEach((socket, sender) => {
        let burst = '';
        for (let seq = 0; seq < lines; seq++) burst += line(sender, seq, bytes);
        socket.write(burst);
      });
    } else {
      // Round-robin, line by line: every client is sending at once, as in a busy room.
      for (let seq = 0; seq < lines; seq++) sockets.forEach((socket, sender) => socket.write(line(sender, seq, bytes)));
    }
  } else {
    for (let seq = 0; seq < lines; seq++) {
      const due = firstSend + (seq * 1000) / rate;
      while (now() < due) await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - now() - 1)));
      sockets.forEach((socket, sender) => socket.write(line(sender, seq, bytes)));
    }
  }
  const deadline = now() + options.drainTimeoutMs;
  while (deliveries < expected && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  for (const socket of sockets) socket.destroy();
  return {
    deliveries,
    expected,
    lost: expected - deliveries,
    duplicated,
    seconds: (lastDelivery - firstSend) / 1000,
    latencyMs,
  };
}

/** Join latency: a newcomer connects every `everyMs` and sends a line at once; a watcher times its arrival. */
export async function runJoins(port: number, joins: number, everyMs: number): Promise<number[]> {
  const watcher = await connect(port);
  const arrived = new Map<number, number>();
  let pending = '';
  watcher.setEncoding('latin1');
  watcher.on('data', (chunk: string) => {
    pending += chunk;
    const end = pending.lastIndexOf('\n');
    if (end === -1) return;
    const at = now();
    for (const match of pending.slice(0, end).matchAll(/~J(\d+)~/g)) arrived.set(Number(match[1]), at);
    pending = pending.slice(end + 1);
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = new Map<number, number>();
  const sockets: net.Socket[] = [];
  for (let i = 0; i < joins; i++) {
    const t = now();
    started.set(i, t);
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.write(`~J${i}~\r\n`); // queued by node until connected: sent the moment connect() completes
    sockets.push(socket);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  const deadline = now() + 5_000;
  while (arrived.size < joins && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  for (const socket of [watcher, ...sockets]) socket.destroy();
  return [...started].filter(([i]) => arrived.has(i)).map(([i, t]) => (arrived.get(i) as number) - t);
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
