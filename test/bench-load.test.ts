import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MarkReader, connect, runJoins } from '../bench/load.js';
import { pageFaultMicros } from '../bench/proc-stats.js';
import { startProcess, type Started } from '../bench/spawn-server.js';
import type { runScale as RunScale, runStorm as RunStorm } from '../bench/scale.js';
import type { TreeCpuMeter as Meter } from '../bench/tree-cpu.js';
import { pollUntil } from './helpers/poll.js';
import { clientChildrenOf } from './helpers/processes.js';
import { ROOT, startServer, stopAllServers } from './helpers/server.js';

const peers: Started[] = [];

afterEach(async () => {
  await stopAllServers();
  await Promise.all(peers.splice(0).map((peer) => peer.stop()));
});

/** A bench peer (dist/tools/bench/NAME.js, built by npm run build:tools) as a process of its own. */
async function startPeer(name: string): Promise<Started> {
  const peer = await startProcess(process.execPath, [path.join(ROOT, 'dist/tools/bench', `${name}.js`)]);
  peers.push(peer);
  return peer;
}

/** Everything `socket` receives, as text. */
function received(socket: net.Socket): () => string {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  return () => text;
}

/** The bench's own receiver: if it miscounts, every figure in the README table is wrong. */
describe('bench: MarkReader', () => {
  const stream = Buffer.from(
    '[12:00] <guest-1> ~B3:17:1764270000123.456~xxxx\r\n' + '~B0:0:5~\r\n' + '*** guest-2 joined #lobby\r\n' + '[12:00] <guest-9> ~B12:345:1764270000999.5~y\r\n',
    'latin1',
  );
  const expected = [
    [3, 17, 1764270000123.456],
    [0, 0, 5],
    [12, 345, 1764270000999.5],
  ];

  it('finds every mark, whatever the server wrapped around it, however the stream is cut', () => {
    for (let cut1 = 0; cut1 <= stream.length; cut1 += 3) {
      for (let cut2 = cut1; cut2 <= stream.length; cut2 += 7) {
        const marks: number[][] = [];
        const reader = new MarkReader((sender, seq, ms) => marks.push([sender, seq, ms]), '~B');
        for (const [from, to] of [[0, cut1], [cut1, cut2], [cut2, stream.length]] as const) reader.push(stream.subarray(from, to));
        expect(marks.length, `cut at ${cut1}, ${cut2}`).toBe(3);
        marks.forEach((mark, i) => {
          expect(mark[0]).toBe(expected[i]?.[0]);
          expect(mark[1]).toBe(expected[i]?.[1]);
          expect(mark[2]).toBeCloseTo(expected[i]?.[2] as number, 3);
        });
      }
    }
  });

  it('waits for the end of a line before it counts it', () => {
    const marks: number[][] = [];
    const reader = new MarkReader((sender, seq, ms) => marks.push([sender, seq, ms]), '~B');
    reader.push(Buffer.from('~B1:2:3~ no newline yet', 'latin1'));
    expect(marks).toEqual([]);
    reader.push(Buffer.from('\r\n', 'latin1'));
    expect(marks).toEqual([[1, 2, 3]]);
  });
});

describe('bench: joins and storms against the real server', () => {
  it('runJoins times every newcomer, from connect() to its first line seen by another', async () => {
    const server = await startServer(['--max-per-ip', '0', '--log-level', 'warn']);
    const times = await runJoins(server.port, 5, 30);
    expect(times).toHaveLength(5);
    for (const ms of times) expect(ms).toBeGreaterThan(0);
  });

  it('runStorm times the lines two people exchange while a crowd connects', async () => {
    const server = await startServer(['--max-per-ip', '0', '--rate-limit', '0', '--log-level', 'warn']);
    // The built step: it forks the two chatting as dist/tools/bench/scale-chat.js.
    const { runStorm } = (await import(path.join(ROOT, 'dist/tools/bench/scale.js'))) as { runStorm: typeof RunStorm };
    const latencies = await runStorm(server.port, 20, 10, 500);
    // A line at once and one every 10 ms until told to stop over IPC 500 ms later: about
    // 51, a few more if the stop is late, and how many fewer only says how busy the
    // machine was (the timer's slack), which is no fault of the bench.
    expect(latencies.length).toBeGreaterThan(0);
    expect(latencies.length).toBeLessThanOrEqual(61);
    for (const ms of latencies) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThan(Infinity); // every line sent arrived: a lost one would be Infinity
    }
    // Every storm client has gone and its child been reaped: whatever the server had to say, it said.
    await pollUntil(() => clientChildrenOf(server.pid).length === 0, 20_000, 'every child to be reaped');
    expect(server.stderr()).not.toMatch(/ERROR/);
  });
});

describe('bench: the careful node:net chat', () => {
  it("does posix-chat's per-line work: splits a read into lines, prefixes each with the time and the sender, skips the sender", async () => {
    const chat = await startPeer('careful-chat');
    const [alice, bob] = [await connect(chat.port), await connect(chat.port)];
    const [toAlice, toBob] = [received(alice), received(bob)];
    await pollUntil(() => toAlice().includes('guest-2 joined'), 5_000, 'the join notice');
    alice.write('hello\r\nwor');
    alice.write('ld\r\n');
    await pollUntil(() => toBob().includes('world'), 5_000, "alice's lines at bob");
    expect(toBob()).toMatch(/\[\d\d:\d\d\] <guest-1> hello\r\n\[\d\d:\d\d\] <guest-1> world\r\n/);
    bob.write('hi\n');
    await pollUntil(() => toAlice().includes('<guest-2> hi'), 5_000, "bob's line at alice");
    expect(toAlice()).not.toContain('hello'); // never its own lines
    alice.destroy();
    await pollUntil(() => toBob().includes('guest-1 left'), 5_000, 'the leave notice');
    bob.destroy();
  });
});

describe('bench: counting', () => {
  it('counts a newcomer never seen as lost (Infinity), not as missing from the percentiles', async () => {
    const silent = net.createServer((socket) => socket.on('data', () => {})); // takes connections, sends nothing
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const lost = await runJoins((silent.address() as net.AddressInfo).port, 2, 30);
      expect(lost).toEqual([Infinity, Infinity]);
    } finally {
      silent.close();
    }
  });

  it('runScale times the two chatting and the line to everyone, none before it was sent', async () => {
    const server = await startServer(['--rate-limit', '0']);
    // The built step: it forks the two chatting as dist/tools/bench/scale-chat.js.
    const { runScale } = (await import(path.join(ROOT, 'dist/tools/bench/scale.js'))) as { runScale: typeof RunScale };
    const result = await runScale(server.port, server.pid, 40, true, 30_000, () => {});
    expect(result.served).toBe(40);
    expect(result.allServedMs).toBeGreaterThan(0);
    expect(result.fanoutReached).toBe(39); // everyone served but the one who sent it
    expect(result.fanoutMs).toBeGreaterThan(0);
    expect(result.fanoutMs).toBeLessThan(Infinity);
    expect(result.chatMs.length).toBeGreaterThan(0);
    for (const ms of result.chatMs) expect(ms).toBeGreaterThan(0); // seen, and not before it was sent
    expect(result.pssPerClientMiB).toBeGreaterThan(0);
  }, 60_000);

  it("TreeCpuMeter counts a child that exits inside the window, from every thread's schedstat", async () => {
    // A parent that starts a child burning CPU for 400 ms, waits for it to exit, then lingers.
    const script = `const c = require('child_process').spawn(process.execPath, ['-e', 'const t = Date.now() + 400; while (Date.now() < t);']);
      c.on('exit', () => setTimeout(() => {}, 60000)); console.log('Listening on x:1...');`;
    const parent = await startProcess(process.execPath, ['-e', script]);
    peers.push(parent);
    // The built meter: its sampling thread runs dist/tools/bench/tree-cpu-worker.js.
    const { TreeCpuMeter } = (await import(path.join(ROOT, 'dist/tools/bench/tree-cpu.js'))) as { TreeCpuMeter: typeof Meter };
    const meter = new TreeCpuMeter(parent.pid, 20);
    meter.start();
    await pollUntil(() => !/\d/.test(readChildren(parent.pid)), 10_000, 'the child to exit');
    const cpu = meter.stop();
    expect(cpu.byRole.get('other') ?? 0).toBeGreaterThan(0); // the child, though it exited
    expect(cpu.totalNs).toBeGreaterThanOrEqual(cpu.byRole.get('other') ?? 0);
    expect(cpu.runs).toBeGreaterThan(0); // the child was put on a CPU at least once
  });
});

function readChildren(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return '';
  }
}

describe('bench: machine facts', () => {
  it('times a page fault from the faults /proc counted while 32 MiB were touched', () => {
    const micros = pageFaultMicros();
    expect(Number.isFinite(micros)).toBe(true);
    expect(micros).toBeGreaterThan(0);
  });

  it("times a system call, a wake-up through a pipe and a forked child's first read of a page, in a process of its own (it forks)", () => {
    const run = spawnSync(process.execPath, ['--single-threaded', path.join(ROOT, 'dist/tools/bench/machine-costs.js'), '--quick'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const costs = JSON.parse(run.stdout) as { syscallMicros: number; wakeMicros: number; firstReadMicros: number };
    expect(costs.syscallMicros).toBeGreaterThan(0);
    expect(Number.isFinite(costs.syscallMicros)).toBe(true);
    expect(costs.wakeMicros).toBeGreaterThan(0);
    expect(Number.isFinite(costs.wakeMicros)).toBe(true);
    expect(Number.isFinite(costs.firstReadMicros)).toBe(true); // about 0 on bare metal, so no lower bound
  }, 90_000);
});
