/**
 * npm run bench: runs the node:net reference and posix-chat under the same load,
 * in the same run, and prints both with their ratio. --write-readme puts the table
 * into README.md; --quick runs smaller loads.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, percentile, runJoins, runLoad, runStorm } from './load.js';
import { childPids, clientChildPids, pageFaultMicros, pssKiB, treeCpuSeconds } from './proc-stats.js';
import { startPosixChat, startProcess, type Started } from './spawn-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const quick = process.argv.includes('--quick');
const writeReadme = process.argv.includes('--write-readme');

type Server = 'reference' | 'posix-chat';
const SERVERS: Server[] = ['reference', 'posix-chat'];

/**
 * A first, unmeasured round for a fresh server: V8 compiles the hot paths while it
 * runs (in posix-chat on the main thread: it runs --single-threaded), so the
 * measured round shows the server as it runs for hours, for both servers alike.
 * Waits until the warm-up's children have exited and been reaped.
 */
async function warmUp(name: Server, server: Started, clients: number): Promise<void> {
  await runLoad({ port: server.port, clients, lines: 50, bytes: 100, rate: 0, drainTimeoutMs: 10_000 }, settled(name, server, clients));
  const deadline = Date.now() + 10_000;
  while (clientChildPids(server.pid).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** Resolves once `server` has a child per client (posix-chat) or at once (the reference). */
function settled(name: Server, server: Started, clients: number): () => Promise<void> {
  return async () => {
    const deadline = Date.now() + 60_000;
    while (name === 'posix-chat' && clientChildPids(server.pid).length < clients && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
}

/** What posix-chat runs with here, besides its defaults; printed with the table. */
const BENCH_OPTIONS = ['--rate-limit', '0', '--max-per-ip', '0', '--history', '0', '--log-level', 'warn'];

function start(server: Server): Promise<Started> {
  if (server === 'reference') return startProcess(process.execPath, [path.join(root, 'dist/tools/bench/reference-server.js')]);
  // Flood control and per-address limits off: the load comes from one address, as fast as
  // it can. The send-queue limit is the default: when the load generator reads slower than
  // the senders send, posix-chat slows the senders down (flow control) and loses nothing.
  return startPosixChat(root, BENCH_OPTIONS);
}

interface Row {
  metric: string;
  reference: number;
  ours: number;
  unit: string;
  /** How to read the ratio: lower or higher is better. */
  better: 'lower' | 'higher';
  target: string;
}

const rows: Row[] = [];
const fmt = (n: number): string => (Number.isNaN(n) ? 'n/a' : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2));

/** Runs of each burst, alternating servers; the table shows the median (this machine is shared and noisy). */
const BURST_ROUNDS = 3;

function median(values: number[]): number {
  return percentile(values, 50);
}

/**
 * @param writes 'line': each client writes line by line, as chat clients do; 'all': each
 *   writes all its lines at once (a paste), so children read large chunks.
 */
async function burst(clients: number, lines: number, writes: 'line' | 'all'): Promise<void> {
  const results = new Map<Server, { rate: number[]; cpuUs: number[]; lostOrDup: number }>();
  for (const name of SERVERS) results.set(name, { rate: [], cpuUs: [], lostOrDup: 0 });
  for (let round = 0; round < BURST_ROUNDS; round++) {
    for (const name of SERVERS) {
      const server = await start(name);
      await warmUp(name, server, clients);
      let cpuBefore = 0;
      const result = await runLoad({ port: server.port, clients, lines, bytes: 100, rate: 0, drainTimeoutMs: 30_000, burstWrites: writes }, settled(name, server, clients), () => {
        cpuBefore = treeCpuSeconds(server.pid);
      });
      const cpu = treeCpuSeconds(server.pid) - cpuBefore;
      await server.stop();
      const entry = results.get(name) as { rate: number[]; cpuUs: number[]; lostOrDup: number };
      entry.rate.push(result.deliveries / result.seconds);
      entry.cpuUs.push((cpu / result.deliveries) * 1e6);
      entry.lostOrDup += result.lost + result.duplicated;
    }
  }
  const ref = results.get('reference') as { rate: number[]; cpuUs: number[]; lostOrDup: number };
  const ours = results.get('posix-chat') as typeof ref;
  const shape = writes === 'line' ? 'a write per line' : 'all lines in one write';
  const load = `${clients} clients x ${lines} lines, burst, ${shape}, median of ${BURST_ROUNDS}`;
  rows.push({ metric: `deliveries/s (${load})`, reference: median(ref.rate), ours: median(ours.rate), unit: '/s', better: 'higher', target: '>= 2x' });
  rows.push({ metric: `server CPU per delivery (${load})`, reference: median(ref.cpuUs), ours: median(ours.cpuUs), unit: 'µs', better: 'lower', target: '<= 0.25x' });
  rows.push({ metric: `lost + duplicated (${clients} x ${lines}, ${shape}, all runs)`, reference: ref.lostOrDup, ours: ours.lostOrDup, unit: '', better: 'lower', target: '0' });
}

async function latency(clients: number, rate: number, seconds: number): Promise<void> {
  const p = new Map<Server, number[]>();
  for (const name of SERVERS) {
    const server = await start(name);
    await warmUp(name, server, clients);
    const result = await runLoad({ port: server.port, clients, lines: rate * seconds, bytes: 100, rate, drainTimeoutMs: 5_000 }, settled(name, server, clients));
    await server.stop();
    p.set(name, [percentile(result.latencyMs, 50), percentile(result.latencyMs, 99)]);
  }
  const [r50, r99] = p.get('reference') as number[];
  const [o50, o99] = p.get('posix-chat') as number[];
  const load = `${clients} clients x ${rate} lines/s`;
  rows.push({ metric: `message latency p50 (${load})`, reference: r50 as number, ours: o50 as number, unit: 'ms', better: 'lower', target: '' });
  rows.push({ metric: `message latency p99 (${load})`, reference: r99 as number, ours: o99 as number, unit: 'ms', better: 'lower', target: '<= 1.5x' });
}

async function joins(count: number, everyMs: number): Promise<void> {
  const p = new Map<Server, number[]>();
  for (const name of SERVERS) {
    const server = await start(name);
    await warmUp(name, server, 10);
    const times = await runJoins(server.port, count, everyMs);
    await server.stop();
    p.set(name, [percentile(times, 50), percentile(times, 99), count - times.length]);
  }
  const [r50, r99] = p.get('reference') as number[];
  const [o50, o99, missing] = p.get('posix-chat') as number[];
  const load = `a join every ${everyMs} ms`;
  rows.push({ metric: `join latency p50 (${load})`, reference: r50 as number, ours: o50 as number, unit: 'ms', better: 'lower', target: '' });
  rows.push({ metric: `join latency p99 (${load})`, reference: r99 as number, ours: o99 as number, unit: 'ms', better: 'lower', target: '<= 5 ms' });
  if (missing) console.error(`join: ${missing} newcomers never seen`);
}

async function storm(count: number): Promise<void> {
  const p = new Map<Server, number[]>();
  for (const name of SERVERS) {
    const server = await start(name);
    const latencies = await runStorm(server.port, count, 5, 3_000);
    await server.stop();
    p.set(name, [percentile(latencies, 50), percentile(latencies, 99)]);
  }
  const [r50, r99] = p.get('reference') as number[];
  const [o50, o99] = p.get('posix-chat') as number[];
  const load = `two chat while ${count} connect at once`;
  rows.push({ metric: `message latency p50 (${load})`, reference: r50 as number, ours: o50 as number, unit: 'ms', better: 'lower', target: '' });
  rows.push({ metric: `message latency p99 (${load})`, reference: r99 as number, ours: o99 as number, unit: 'ms', better: 'lower', target: '' });
}

async function memory(clients: number): Promise<void> {
  const perClient = new Map<Server, number>();
  for (const name of SERVERS) {
    const server = await start(name);
    const idle = pssKiB(server.pid) + childPids(server.pid).reduce((sum, pid) => sum + pssKiB(pid), 0);
    const sockets = [];
    for (let i = 0; i < clients; i++) sockets.push(await connect(server.port));
    const deadline = Date.now() + 180_000; // a child each, all forked by one zygote: tens of seconds for 1000
    while (name === 'posix-chat' && clientChildPids(server.pid).length < clients && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const children = childPids(server.pid);
    const total = pssKiB(server.pid) + children.reduce((sum, pid) => sum + pssKiB(pid), 0);
    const allServed = name === 'reference' || clientChildPids(server.pid).length >= clients;
    perClient.set(name, allServed ? (total - idle) / clients / 1024 : NaN); // not all served: no figure, not a low one
    for (const socket of sockets) socket.destroy();
    await server.stop();
  }
  rows.push({
    metric: `PSS per idle client (${clients} clients)`,
    reference: perClient.get('reference') as number,
    ours: perClient.get('posix-chat') as number,
    unit: 'MiB',
    better: 'lower',
    target: '<= 1 MiB',
  });
}

async function fanout(clients: number): Promise<void> {
  const took = new Map<Server, number>();
  for (const name of SERVERS) {
    const server = await start(name);
    const sockets = [];
    let got = 0;
    let last = 0;
    for (let i = 0; i < clients; i++) {
      const socket = await connect(server.port);
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        if (chunk.includes('~FANOUT~')) {
          got++;
          last = performance.now();
        }
      });
      sockets.push(socket);
    }
    const deadline = Date.now() + 180_000; // minutes for 2000 on a slow machine
    while (name === 'posix-chat' && clientChildPids(server.pid).length < clients && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1_000));
    const sentAt = performance.now();
    sockets[0]?.write('~FANOUT~\r\n');
    const until = Date.now() + 10_000;
    while (got < clients - 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    took.set(name, got === clients - 1 ? last - sentAt : NaN);
    for (const socket of sockets) socket.destroy();
    await server.stop();
  }
  rows.push({
    metric: `one line to ${clients - 1} others (${clients} connected)`,
    reference: took.get('reference') as number,
    ours: took.get('posix-chat') as number,
    unit: 'ms',
    better: 'lower',
    target: '<= 1000 ms',
  });
}

function table(): string {
  const lines = [
    '| metric | node:net reference | posix-chat | ratio | target |',
    '|---|---:|---:|---:|---|',
    ...rows.map((row) => {
      const ratio = row.reference === 0 ? (row.ours === 0 ? '-' : 'n/a') : `${(row.ours / row.reference).toFixed(2)}x`;
      return `| ${row.metric} | ${fmt(row.reference)} ${row.unit} | ${fmt(row.ours)} ${row.unit} | ${ratio} | ${row.target} |`;
    }),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  await burst(50, quick ? 50 : 200, 'line');
  await burst(50, quick ? 50 : 200, 'all');
  await latency(10, 20, quick ? 2 : 5);
  await joins(quick ? 20 : 200, 30); // 200: so p99 is not simply the slowest one
  await storm(quick ? 50 : 200);
  await memory(quick ? 200 : 1000);
  await fanout(quick ? 500 : 2000);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const header = `\`npm run bench${quick ? ' -- --quick' : ''}\` on ${os.cpus().length} x ${cpu}, Linux ${os.release()}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}:`;
  const faults = `A page fault (a fresh page, first write) costs ${pageFaultMicros().toFixed(2)} µs on this machine.`;
  const options = `posix-chat ran with \`${BENCH_OPTIONS.join(' ')}\`, every other option at its default.`;
  const output = `${header}\n\n${table()}\n\n${options} ${faults}\n`;
  console.log(output);
  if (writeReadme) {
    const readme = path.join(root, 'README.md');
    const text = readFileSync(readme, 'utf8');
    const start = '<!-- bench:start -->';
    const end = '<!-- bench:end -->';
    const next = text.replace(new RegExp(`${start}[^]*${end}`), `${start}\n${output}${end}`);
    writeFileSync(readme, next);
  }
}

await main();
