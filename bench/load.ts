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
  /** The mark lines carry (default `~B`): a warm-up round uses another, so a server's history of it is not counted. */
  mark?: string;
}

export interface LoadResult {
  deliveries: number;
  expected: number;
  lost: number;
  duplicated: number;
  /** From the first send to the last delivery. */
  seconds: number;
  /** One per delivery, and Infinity for each lost one. */
  latencyMs: Float64Array;
}

/**
 * Letters of this run's own, in every mark: posix-chat keeps a room's history in its data
 * directory and shows newcomers its last lines, some perhaps from an earlier run's load.
 */
export const RUN_TAG = Array.from({ length: 3 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');
/** Each line starts `~B<run tag><sender>:<seq>:<sent ms>~` and is padded to the line size. */
const DEFAULT_MARK = `~B${RUN_TAG}`;
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
  private readonly mark: Buffer;

  constructor(
    private readonly onMark: (sender: number, seq: number, sentMs: number) => void,
    mark = DEFAULT_MARK,
  ) {
    this.mark = Buffer.from(mark, 'latin1');
  }

  push(chunk: Buffer): void {
    const data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const end = data.lastIndexOf(NEWLINE);
    if (end === -1) {
      this.pending = Buffer.from(data);
      return;
    }
    this.pending = Buffer.from(data.subarray(end + 1));
    const width = this.mark.length;
    for (let at = data.indexOf(this.mark); at !== -1 && at < end; at = data.indexOf(this.mark, at + width)) this.parse(data, at + width, end);
  }

  /** Parses `<sender>:<seq>:<ms>[.<fraction>]~` at `from`; anything else is not a mark. */
  private parse(data: Buffer, from: number, end: number): void {
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

/** Connections made so far by this process: each picks its source address by it. */
let connections = 0;
/** Connections from one source address: below posix-chat's default --max-per-ip (20). */
const PER_SOURCE_ADDRESS = 16;

/**
 * The next source address in 127.0.0.0/8: every PER_SOURCE_ADDRESS connections come
 * from another one, as clients of a real server come from many. So posix-chat's
 * per-address limit stays at its default, and no one address runs out of ports.
 */
export function nextSourceAddress(): string {
  const n = Math.floor(connections++ / PER_SOURCE_ADDRESS);
  return `127.${1 + (Math.floor(n / 62_500) % 250)}.${1 + (Math.floor(n / 250) % 250)}.${1 + (n % 250)}`;
}

/** A client socket to the server on 127.0.0.1 (not yet connected), from the next source address. */
export function open(port: number): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: nextSourceAddress() });
  socket.setNoDelay(true);
  return socket;
}

export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = open(port);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function line(sender: number, seq: number, bytes: number, tag: string): string {
  const mark = `${tag}${sender}:${seq}:${now().toFixed(3)}~`;
  return mark + 'x'.repeat(Math.max(0, bytes - mark.length)) + '\r\n';
}

/**
 * @param settled resolves once the server has taken every connection in (our server:
 *   a child per client); then `onReady` runs and the clock starts.
 */
export async function runLoad(options: LoadOptions, settled: () => Promise<void>, window?: Window): Promise<LoadResult> {
  const [result] = await runBursts(options, settled, [window ?? NO_WINDOW]);
  return result as LoadResult;
}

const NO_WINDOW: Window = { start() {}, end() {} };

/**
 * The same load once per window, over the same connections: the first measures clients
 * that have just connected (for posix-chat, children that have just been forked), the
 * next ones clients that have talked before. One result per window.
 */
export async function runBursts(options: LoadOptions, settled: () => Promise<void>, windows: Window[]): Promise<LoadResult[]> {
  const { clients: count, lines, bytes, rate } = options;
  const tag = options.mark ?? DEFAULT_MARK;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i++) sockets.push(await connect(options.port));
  // Each round's lines are numbered on from the last round's: seq = round * lines + k.
  // counts[receiver][sender * total + seq]
  const total = lines * windows.length;
  const counts = sockets.map(() => new Uint8Array(count * total));
  let round = 0;
  let latencyMs = new Float64Array(count * (count - 1) * lines);
  // This round's counts; each round starts them at 0.
  let latencies: number;
  let deliveries: number;
  let duplicated: number;
  let lastDelivery: number;
  sockets.forEach((socket, receiver) => {
    const seen = counts[receiver] as Uint8Array;
    let at = 0;
    const reader = new MarkReader((sender, seq, sentMs) => {
      if (sender >= count || seq >= total) return; // not this load's
      const index = sender * total + seq;
      const twice = (seen[index] as number) > 0;
      seen[index] = Math.min(255, (seen[index] as number) + 1);
      if (Math.floor(seq / lines) !== round) return; // a late line of an earlier round: counted there as lost
      if (twice) duplicated++;
      else deliveries++;
      if (latencies < latencyMs.length) latencyMs[latencies++] = at - sentMs;
      lastDelivery = at;
    }, tag);
    socket.on('data', (chunk: Buffer) => {
      at = now();
      reader.push(chunk);
    });
    socket.on('error', () => {});
  });
  await settled();
  // Let every server greet every client before the clock starts.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const results: LoadResult[] = [];
  for (const window of windows) {
    if (round > 0) await new Promise((resolve) => setTimeout(resolve, 200)); // the last round's stragglers
    [latencies, deliveries, duplicated, lastDelivery] = [0, 0, 0, 0];
    latencyMs = new Float64Array(count * (count - 1) * lines);
    const first = round * lines;
    window.start();
    const expected = count * (count - 1) * lines;
    const firstSend = now();
    if (rate === 0) {
      if (options.burstWrites === 'all') {
        sockets.forEach((socket, sender) => {
          let burst = '';
          for (let seq = first; seq < first + lines; seq++) burst += line(sender, seq, bytes, tag);
          socket.write(burst);
        });
      } else {
        // Round-robin, line by line: every client is sending at once, as in a busy room.
        for (let seq = first; seq < first + lines; seq++) sockets.forEach((socket, sender) => socket.write(line(sender, seq, bytes, tag)));
      }
    } else {
      for (let k = 0; k < lines; k++) {
        const due = firstSend + (k * 1000) / rate;
        while (now() < due) await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - now() - 1)));
        sockets.forEach((socket, sender) => socket.write(line(sender, first + k, bytes, tag)));
      }
    }
    const deadline = now() + options.drainTimeoutMs;
    while (deliveries < expected && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    window.end();
    const lost = expected - deliveries;
    // A delivery that never came counts in the latencies, as slower than any that did.
    const counted = Math.min(latencyMs.length, latencies + lost);
    latencyMs.fill(Infinity, latencies, counted);
    results.push({
      deliveries,
      expected,
      lost,
      duplicated,
      seconds: (lastDelivery - firstSend) / 1000,
      latencyMs: latencyMs.subarray(0, counted),
    });
    round++;
  }
  for (const socket of sockets) socket.destroy();
  return results;
}

/** Hooks around the part of a step that is measured: a CPU meter starts and stops here. */
export interface Window {
  start(): void;
  end(): void;
}

/** How long a line or a newcomer may take before it counts as lost (Infinity in the latencies). */
const LATE_MS = 5_000;

/**
 * Join latency: a newcomer connects every `everyMs` and sends a line at once; a watcher
 * times its arrival. One latency per newcomer, Infinity for one never seen within
 * LATE_MS of the last connect. `window` spans the joins, from the first connect to the
 * last arrival plus `settleMs` (posix-chat forks the next spare after each join).
 */
export async function runJoins(port: number, joins: number, everyMs: number, window?: Window, settleMs = 200): Promise<number[]> {
  const watcher = await connect(port);
  const arrived = new Map<number, number>();
  watchMarks(watcher, /~J(\d+)~/g, (value, at) => arrived.set(Number(value), at));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = new Map<number, number>();
  const sockets: net.Socket[] = [];
  window?.start();
  for (let i = 0; i < joins; i++) {
    const t = now();
    started.set(i, t);
    const socket = open(port);
    socket.on('error', () => {});
    socket.write(`~J${i}~\r\n`); // queued by node until connected: sent the moment connect() completes
    sockets.push(socket);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  const deadline = now() + LATE_MS;
  while (arrived.size < joins && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  window?.end();
  for (const socket of [watcher, ...sockets]) socket.destroy();
  return [...started].map(([i, t]) => (arrived.has(i) ? (arrived.get(i) as number) - t : Infinity));
}

/** Calls `onMark(first capture, arrival time)` for each `pattern` match in whole lines received on `socket`. */
export function watchMarks(socket: net.Socket, pattern: RegExp, onMark: (value: string, at: number) => void): void {
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

/** The p-th percentile; a lost one is Infinity and counts as slower than any. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
