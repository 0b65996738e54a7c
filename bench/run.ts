/**
 * npm run bench: the bare node:net relay, the careful node:net chat and posix-chat
 * under the same load, one after the other in each round, and a table of the three
 * with posix-chat's ratio to each. Options:
 *   --rounds N      N full rounds; the table shows the median (default 1)
 *   --quick         smaller loads, for a quick look
 *   --scale N       only the scale step, with N clients (see scale.ts)
 *   --scale-timeout S   how long the scale step waits for every client (default 600 s)
 *   --servers a,b   only these of relay, careful, posix-chat (default all three)
 *   --steps a,b     only these of burst, latency, joins, storm, scale (default all)
 *   --warm-up N     at most N unmeasured rounds before each measured one (default 6; see warmUp)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { percentile, RUN_TAG, runBursts, runJoins, runLoad } from './load.js';
import { clientChildPids, minorFaults, pageFaultMicros } from './proc-stats.js';
import { Results, SERVERS, fmt, type Server } from './results.js';
import { raiseOwnFileLimit, runScale, runStorm } from './scale.js';
import { KEEP_ROOT, startPosixChat, startProcess, type Started } from './spawn-server.js';
import { kernelThreads, kernelThreadsBetween, ownSchedstat, processCpuNs, TreeCpuMeter, TreeCpuSampler, type CpuByRole, type TreeCpu } from './tree-cpu.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const at = argv.indexOf(name);
  return at === -1 ? undefined : argv[at + 1];
};
const quick = argv.includes('--quick');
const rounds = Math.max(1, Number(flag('--rounds') ?? 1) || 1);
const scaleOnly = flag('--scale') === undefined ? null : Number(flag('--scale'));
const scaleTimeoutMs = (Number(flag('--scale-timeout') ?? 600) || 600) * 1000;
const steps = (flag('--steps') ?? 'burst,latency,joins,storm,scale').split(',');
const servers = SERVERS.filter((s) => (flag('--servers') ?? SERVERS.join(',')).split(',').includes(s));

/**
 * Every option a server runs with here that is not its default. posix-chat's flood
 * control (10 lines/s) would drop most of a burst, and the latency step sends 20 lines/s.
 * (Run as root, startPosixChat() also passes KEEP_ROOT.)
 */
const OPTIONS: Record<Server, string[]> = { relay: [], careful: [], 'posix-chat': ['--rate-limit', '0'] };
/**
 * What the report lists. posix-chat also gets a data directory of its own at every start,
 * empty: with the default one, every run's lines stayed in the rooms' history, and the
 * next run's newcomers were shown its marks (a fan-out or chat line seen before it was
 * sent).
 */
const SHOWN_OPTIONS: Record<Server, string[]> = { ...OPTIONS, 'posix-chat': [...KEEP_ROOT, '--data-dir (a new empty directory)', ...OPTIONS['posix-chat']] };

/** Each server's main process's nice value, as last started: posix-chat's parent raises its own where it may (--priority-boost). */
const nices = new Map<Server, number>();

async function start(server: Server): Promise<Started> {
  const started = await startServer(server);
  nices.set(server, os.getPriority(started.pid));
  return started;
}

async function startServer(server: Server): Promise<Started> {
  const tools = path.join(root, 'dist/tools/bench');
  if (server === 'relay') return startProcess(process.execPath, [path.join(tools, 'reference-server.js')]);
  if (server === 'careful') return startProcess(process.execPath, [path.join(tools, 'careful-chat.js')]);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'posix-chat-bench-'));
  const started = await startPosixChat(root, ['--data-dir', dataDir, ...OPTIONS[server]], 60_000);
  return {
    ...started,
    stop: async () => {
      await started.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const results = new Results();
/**
 * posix-chat's CPU by process, one map per burst (per delivery) and per join step (per
 * connection: `deliveries` is the joins x 1000, so the figure reads in ms); and how long
 * its threads waited for a CPU.
 */
const breakdowns: { load: string; byRole: CpuByRole; deliveries: number; waitNs: number }[] = [];
const loads: string[] = [];

function progress(text: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)} load ${loadAverage()}] ${text}\n`);
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
}

/** Resolves once `server` has a child per client (posix-chat) or at once (the node:net servers). */
function settled(name: Server, server: Started, clients: number): () => Promise<void> {
  return async () => {
    const deadline = Date.now() + 60_000;
    while (name === 'posix-chat' && clientChildPids(server.pid).length < clients && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
}

/** Warm-up rounds at most, and the share of the first round's page faults under which the server counts as warm. */
const MAX_WARM_UP_ROUNDS = Math.max(0, Number(flag('--warm-up') ?? 6));
const WARM_FAULT_SHARE = 0.1;

/**
 * Unmeasured rounds of the step's own load for a fresh server, so the measured round
 * shows the server as it runs for hours, for every server alike. Two things settle:
 * V8 compiles the hot paths (in posix-chat on the main thread: it runs
 * --single-threaded), and V8's young generation grows to its full size, each new page
 * a first-write fault (posix-chat's parent took ~2,000 a burst for three bursts, then
 * ~20: docs/bench.md). So the rounds repeat until the server's main process takes
 * fewer than WARM_FAULT_SHARE of the first round's minor faults, at most
 * MAX_WARM_UP_ROUNDS (`--warm-up N`; 0 measures a just-started server). The lines carry
 * other marks, so posix-chat's history of them is not counted later.
 */
async function warmUp(name: Server, server: Started, load: { clients: number; lines: number; writes: 'line' | 'all' }): Promise<void> {
  const faults: number[] = [];
  for (let round = 0; round < MAX_WARM_UP_ROUNDS; round++) {
    const before = minorFaults(server.pid);
    await runLoad(
      // A mark of its own each round: posix-chat shows a newcomer the room's last lines, the last round's.
      { port: server.port, clients: load.clients, lines: load.lines, bytes: 100, rate: 0, drainTimeoutMs: 30_000, burstWrites: load.writes, mark: `~W${RUN_TAG}${String.fromCharCode(97 + round)}` },
      settled(name, server, load.clients),
    );
    const deadline = Date.now() + 10_000;
    while (clientChildPids(server.pid).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    faults.push(minorFaults(server.pid) - before);
    if (faults.length > 1 && (faults.at(-1) ?? 0) < (faults[0] ?? 0) * WARM_FAULT_SHARE) break;
  }
  if (faults.length > 0) progress(`  warm-up: ${faults.length} round(s); the main process's page faults in each: ${faults.join(', ')}`);
}

/** A window's CPU before it is measured (and if it never is). */
function noCpu(): TreeCpu {
  return { totalNs: NaN, byRole: new Map(), waitNs: NaN, runs: NaN };
}

/** A meter as a load's window: `done` gets the tree's CPU when the window ends. */
function metered(server: Started, done: (cpu: TreeCpu) => void): { start(): void; end(): void } {
  const meter = new TreeCpuMeter(server.pid);
  return { start: () => meter.start(), end: () => done(meter.stop()) };
}

/**
 * Two bursts over the same connections: the first from clients that have just
 * connected (each of posix-chat's children then runs its code and touches its pages
 * for the first time), the second from the same clients again, as in a chat that has
 * been going for a while. Each has its rows; the first is the headline.
 */
async function burst(clients: number, lines: number, writes: 'line' | 'all'): Promise<void> {
  const shape = writes === 'line' ? 'a write per line' : 'all lines in one write';
  const load = `${clients} x ${lines}, ${shape}`;
  for (const name of servers) {
    progress(`burst ${load}: ${name}`);
    const server = await start(name);
    await warmUp(name, server, { clients, lines, writes });
    const cpu = [noCpu(), noCpu()];
    const measured = await runBursts(
      { port: server.port, clients, lines, bytes: 100, rate: 0, drainTimeoutMs: 30_000, burstWrites: writes },
      settled(name, server, clients),
      cpu.map((_, i) => metered(server, (c) => (cpu[i] = c))),
    );
    await server.stop();
    measured.forEach((result, i) => {
      const step = i === 0 ? load : `${load}, the same clients again`;
      const used = cpu[i] ?? noCpu();
      results.record(`deliveries/s (${step})`, '/s', i === 0 ? '>= 1x careful' : '', name, result.deliveries / result.seconds);
      results.record(`CPU per delivery (${step})`, 'µs', i === 0 ? '<= 1x careful, <= 1.5x relay' : '', name, used.totalNs / result.deliveries / 1000);
      results.record(`times a thread was put on a CPU, per 1,000 deliveries (${step})`, '', '', name, (used.runs / result.deliveries) * 1000);
      results.record(`lost + duplicated (${step}, all rounds)`, '', '0', name, result.lost + result.duplicated, 'sum');
      if (name === 'posix-chat') breakdowns.push({ load: `per delivery (${step}), in µs`, byRole: used.byRole, deliveries: result.deliveries, waitNs: used.waitNs });
    });
  }
}

async function latency(clients: number, rate: number, seconds: number): Promise<void> {
  const load = `${clients} clients x ${rate} lines/s`;
  for (const name of servers) {
    progress(`latency ${load}: ${name}`);
    const server = await start(name);
    await warmUp(name, server, { clients, lines: 50, writes: 'line' });
    const result = await runLoad({ port: server.port, clients, lines: rate * seconds, bytes: 100, rate, drainTimeoutMs: 5_000 }, settled(name, server, clients));
    await server.stop();
    results.record(`message latency p50 (${load})`, 'ms', '', name, percentile(result.latencyMs, 50));
    results.record(`message latency p99 (${load})`, 'ms', '<= 1.5x careful', name, percentile(result.latencyMs, 99));
    results.record(`lost (${load}, later than 5 s or never, all rounds)`, '', '0', name, result.lost, 'sum');
  }
}

async function joins(count: number, everyMs: number): Promise<void> {
  const load = `${count} joins, one every ${everyMs} ms`;
  for (const name of servers) {
    progress(`joins ${load}: ${name}`);
    const server = await start(name);
    await warmUp(name, server, { clients: 10, lines: 50, writes: 'line' });
    let cpuNs = NaN;
    const times = await runJoins(
      server.port,
      count,
      everyMs,
      metered(server, (c) => {
        cpuNs = c.totalNs;
        if (name === 'posix-chat') breakdowns.push({ load: `per connection (${load}), in ms`, byRole: c.byRole, deliveries: count * 1000, waitNs: c.waitNs });
      }),
    );
    await server.stop();
    results.record(`join latency p50 (${load})`, 'ms', '', name, percentile(times, 50));
    results.record(`join latency p99 (${load})`, 'ms', '<= 5 ms', name, percentile(times, 99));
    results.record(`joins not seen within 5 s (${load}, all rounds)`, '', '0', name, times.filter((t) => t === Infinity).length, 'sum');
    results.record(`CPU per connection, accept to first line delivered (${load})`, 'ms', '', name, cpuNs / count / 1e6);
  }
}

async function storm(count: number): Promise<void> {
  const load = `two chat while ${count} connect at once`;
  for (const name of servers) {
    progress(`storm ${count}: ${name}`);
    const server = await start(name);
    const latencies = await runStorm(server.port, count, 5, 3_000);
    await server.stop();
    results.record(`message latency p50 (${load})`, 'ms', '', name, percentile(latencies, 50));
    results.record(`message latency p99 (${load})`, 'ms', '<= 2x careful', name, percentile(latencies, 99));
  }
}

async function scale(clients: number): Promise<void> {
  raiseOwnFileLimit(clients);
  const load = `${clients} connect at once`;
  for (const name of servers) {
    progress(`scale ${clients}: ${name}`);
    const server = await start(name);
    // What the step cost the server, this process (the load generator) and the kernel's
    // own threads: on one machine they share its CPUs (docs/bench.md, "Who else runs at 10,000").
    const before = ownSchedstat(server.pid);
    const tree = new TreeCpuSampler(server.pid);
    tree.sample(true);
    const [generatorBefore, kernelBefore] = [processCpuNs(process.pid), kernelThreads()];
    let [generatorAfter, kernelAfter] = [generatorBefore, kernelBefore];
    const result = await runScale(server.port, server.pid, clients, name !== 'relay', scaleTimeoutMs, (text) => progress(`scale ${clients}: ${name}: ${text}`), () => {
      [generatorAfter, kernelAfter] = [processCpuNs(process.pid), kernelThreads()];
      tree.sample(false); // before the crowd leaves: a child that has exited is not read
    });
    const after = ownSchedstat(server.pid);
    const [cpuS, waitS] = [(after.cpuNs - before.cpuNs) / 1e9, (after.waitNs - before.waitNs) / 1e9];
    progress(`scale ${clients}: ${name}: ${result.served} served, fan-out reached ${result.fanoutReached}; its main process ran ${cpuS.toFixed(1)} s and waited ${waitS.toFixed(1)} s for a CPU; stopping`);
    const kernel = kernelThreadsBetween(kernelBefore, kernelAfter).map(([thread, ns]): [string, number] => [thread, ns / 1e9]);
    const byRole = [...tree.result().byRole].sort((a, b) => b[1] - a[1]);
    progress(`scale ${clients}: ${name}: CPU by process: ${byRole.map(([role, ns]) => `${role} ${(ns / 1e9).toFixed(1)} s`).join(', ')}; the kernel's busiest threads meanwhile: ${kernel.slice(0, 3).map(([thread, s]) => `${thread} ${s.toFixed(1)} s`).join(', ')}`);
    await server.stop();
    const warnings = server.stderr().split('\n').filter((line) => /WARN|ERROR|cannot|at most/.test(line));
    if (warnings.length > 0) progress(`${name} said:\n${warnings.slice(0, 10).join('\n')}`);
    results.record(`time until all are served (${load})`, 's', '<= 60 s', name, result.allServedMs / 1000);
    results.record(`clients served within ${scaleTimeoutMs / 1000} s (${load}, all rounds)`, '', `all`, name, result.served, 'sum');
    results.record(`message latency p99 (two chat while ${load})`, 'ms', '< 50 ms', name, percentile(result.chatMs, 99));
    results.record(`one line to all the others served (${load})`, 'ms', '< 1000 ms', name, result.fanoutMs);
    results.record(`PSS per idle client served (${load})`, 'MiB', '<= 0.5 MiB', name, result.pssPerClientMiB);
    results.record(`CPU of the server, all its processes, over the step (${load})`, 's', '', name, tree.result().totalNs / 1e9);
    results.record(`CPU of the load generator over the step (${load})`, 's', '', name, (generatorAfter - generatorBefore) / 1e9);
    results.record(`CPU of the kernel's own threads over the step (${load})`, 's', '', name, kernel.reduce((sum, [, s]) => sum + s, 0));
  }
}

/** posix-chat's CPU in each burst (per delivery) and join step (per connection), by process: where it goes. */
function breakdownTable(): string {
  const roles = [...new Set(breakdowns.flatMap((b) => [...b.byRole.keys()]))].sort();
  const lines = [`| step | ${roles.join(' | ')} | total | waited for a CPU |`, `|---|${roles.map(() => '---:|').join('')}---:|---:|`];
  for (const b of breakdowns) {
    const cells = roles.map((role) => fmt((b.byRole.get(role) ?? 0) / b.deliveries / 1000));
    const total = [...b.byRole.values()].reduce((sum, ns) => sum + ns, 0);
    lines.push(`| ${b.load} | ${cells.join(' | ')} | ${fmt(total / b.deliveries / 1000)} | ${fmt(b.waitNs / b.deliveries / 1000)} |`);
  }
  return lines.join('\n');
}

/** What the machine charges, beside which every figure is read: a page fault, a system call, a wake-up, a forked child's first read of a page. */
interface MachineCosts {
  faultMicros: number;
  syscallMicros: number;
  wakeMicros: number;
  firstReadMicros: number;
}

/** Measures them; the last two in their own process (machine-costs.ts forks). */
function machineCosts(): MachineCosts {
  const script = path.join(root, 'dist/tools/bench/machine-costs.js');
  const measured = JSON.parse(execFileSync(process.execPath, ['--single-threaded', script], { encoding: 'utf8', timeout: 120_000 })) as Omit<MachineCosts, 'faultMicros'>;
  return { faultMicros: pageFaultMicros(), ...measured };
}

function machine(costs: MachineCosts): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const memory = `${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`;
  return (
    `${os.cpus().length} x ${cpu}, ${memory}, Linux ${os.release()}, Node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z; ` +
    `CPU time here: a page fault (a fresh page, first write) ${costs.faultMicros.toFixed(2)} µs, a system call (an empty read() through the addon) ` +
    `${costs.syscallMicros.toFixed(2)} µs, a process woken through a pipe (a write, the other scheduled, its read; both sides) ${costs.wakeMicros.toFixed(1)} µs, ` +
    `a forked child's first read of a page it shares with its parent (no fault counted) ${costs.firstReadMicros.toFixed(2)} µs`
  );
}

async function main(): Promise<void> {
  const costs = machineCosts();
  progress(`machine: ${machine(costs)}`);
  for (let round = 1; round <= rounds; round++) {
    loads.push(`round ${round}: ${loadAverage()}`);
    progress(`round ${round} of ${rounds}`);
    if (scaleOnly !== null) {
      await scale(scaleOnly);
      continue;
    }
    if (steps.includes('burst')) {
      await burst(50, quick ? 50 : 200, 'line');
      await burst(50, quick ? 50 : 200, 'all');
    }
    if (steps.includes('latency')) await latency(10, 20, quick ? 2 : 5);
    if (steps.includes('joins')) await joins(quick ? 20 : 200, 30); // 200: so p99 is not simply the slowest one
    if (steps.includes('storm')) await storm(quick ? 50 : 200);
    if (steps.includes('scale')) await scale(quick ? 200 : 1000);
  }
  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  const options = servers.map((s) => `${s}: ${SHOWN_OPTIONS[s].length === 0 ? 'defaults' : `\`${SHOWN_OPTIONS[s].join(' ')}\``}`).join('; ');
  const output = [
    `\`${command}\` on ${machine(costs)}.`,
    `Load average (1, 5, 15 min) at the start of each round: ${loads.join('; ')}.`,
    '',
    results.table(),
    '',
    `Options that differ from each server's defaults: ${options}. Nice value of each server's main process: ${[...nices].map(([server, nice]) => `${server} ${nice}`).join(', ')} (this bench runs at ${os.getPriority()}; posix-chat's parent raises its own where it may, \`--priority-boost\`). Figures: the median of ${rounds} round${rounds === 1 ? '' : 's'}; ratios: the median of each round's posix-chat / peer; lost counts: summed over the rounds.`,
    '',
  ];
  if (breakdowns.length > 0) output.push(`posix-chat's CPU by process (schedstat, every thread; server: the parent), per delivery in µs, per connection in ms:`, '', breakdownTable(), '');
  if (rounds > 1) output.push('Each round:', '', results.rounds(), '');
  console.log(output.join('\n'));
}

await main();
