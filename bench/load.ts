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
  latencyMs: Float64Array;
}

/** Each line starts `~B<sender>:<seq>:<sent ms>~` and is padded to the line size. */
const MARK = Buffer.from('~B', 'latin1');
const COLON = 0x3a;
const TILDE = 0x7e;
const DOT = 0x2e;
const NEWLINE = 0x0a;

/**
 * Reads the marks out of one receiver's stream. It runs for every line every client
 * receives (half a million in a burst), in the same process as all the clients, so it
 * scans bytes instead of running a regular expression and allocates nothing per line:
 * the load generator must cost far less than the servers it measures.
 */
export class MarkReader {
  /** The part of the stream after its last newline: a line not complete yet. */
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onMark: (sender: number, seq: number, sentMs: number) => void) {}

  push(chunk: Buffer): void {
    const data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const end = data.lastIndexOf(NEWLINE);
    if (end === -1) {
      this.pending = Buffer.from(data);
      return;
    }
    this.pending = Buffer.from(data.subarray(end + 1));
    for (let at = data.indexOf(MARK); at !== -1 && at < end; at = data.indexOf(MARK, at + 2)) this.mark(data, at + 2, end);
  }

  /** Parses `<sender>:<seq>:<ms>[.<fraction>]~` at `from`; anything else is not a mark. */
  private mark(data: Buffer, from: number, end: number): void {
    let i = from;
    let sender = 0;
    let seq = 0;
    let ms = 0;
    let scale = 0;
    for (; i < end && data[i] !== COLON; i++) sender = sender * 10 + ((data[i] as number) - 48);
    for (i++; i < end && data[i] !== COLON; i++) seq = seq * 10 + ((data[i] as number) - 48);
    for (i++; i < end && data[i] !== TILDE; i++) {
      const byte = data[i] as number;
      if (byte === DOT) scale = 1;
      else if (scale === 0) ms = ms * 10 + (byte - 48);
      else ms += (byte - 48) / (scale *= 10);
    }
    if (i < end) this.onMark(sender, seq, ms);
  }
}

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
  const latencyMs = new Float64Array(count * (count - 1) * lines);
  let latencies = 0;
  let deliveries = 0;
  let duplicated = 0;
  let lastDelivery = 0;
  sockets.forEach((socket, receiver) => {
    const seen = counts[receiver] as Uint8Array;
    let at = 0;
    const reader = new MarkReader((sender, seq, sentMs) => {
      const index = sender * lines + seq;
      if ((seen[index] as number) > 0) duplicated++;
      else deliveries++;
      seen[index] = Math.min(255, (seen[index] as number) + 1);
      if (latencies < latencyMs.length) latencyMs[latencies++] = at - sentMs;
      lastDelivery = at;
    });
    socket.on('data', (chunk: Buffer) => {
      at = now();
      reader.push(chunk);
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
    latencyMs: latencyMs.subarray(0, latencies),
  };
}

/** Join latency: a newcomer connects every `everyMs` and sends a line at once; a watcher times its arrival. */
export async function runJoins(port: number, joins: number, everyMs: number): Promise<number[]> {
  const watcher = await connect(port);
  const arrived = new Map<number, number>();
  watchMarks(watcher, /~J(\d+)~/g, (value, at) => arrived.set(Number(value), at));
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

/**
 * A storm of connections: `count` clients connect at once while two others chat, one
 * line every `everyMs`. Returns the latencies (ms) of the lines sent during the
 * storm's first `windowMs`: whether serving newcomers holds everyone else up.
 */
export async function runStorm(port: number, count: number, everyMs: number, windowMs: number): Promise<number[]> {
  const [speaker, listener] = [await connect(port), await connect(port)] as [net.Socket, net.Socket];
  await new Promise((resolve) => setTimeout(resolve, 500)); // both are served before the storm
  const latencies: number[] = [];
  watchMarks(listener, /~S([\d.]+)~/g, (value, at) => latencies.push(at - Number(value)));
  const timer = setInterval(() => speaker.write(`~S${now().toFixed(3)}~\r\n`), everyMs);
  const crowd: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    crowd.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  clearInterval(timer);
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // the last lines arrive
  for (const socket of [speaker, listener, ...crowd]) socket.destroy();
  return latencies;
}

/** Calls `onMark(first capture, arrival time)` for each `pattern` match in whole lines received on `socket`. */
function watchMarks(socket: net.Socket, pattern: RegExp, onMark: (value: string, at: number) => void): void {
  let pending = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    const end = pending.lastIndexOf('\n');
    if (end === -1) return;
    const at = now();
    for (const match of pending.slice(0, end).matchAll(pattern)) onMark(match[1] as string, at);
    pending = pending.slice(end + 1);
  });
}

export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
