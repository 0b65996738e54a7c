import { afterEach, describe, expect, it } from 'vitest';
import { MarkReader, runJoins, runStorm } from '../bench/load.js';
import { pageFaultMicros } from '../bench/proc-stats.js';
import { pollUntil } from './helpers/poll.js';
import { clientChildrenOf } from './helpers/processes.js';
import { startServer, stopAllServers } from './helpers/server.js';

afterEach(async () => {
  await stopAllServers();
});

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
        const reader = new MarkReader((sender, seq, ms) => marks.push([sender, seq, ms]));
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
    const reader = new MarkReader((sender, seq, ms) => marks.push([sender, seq, ms]));
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
    const latencies = await runStorm(server.port, 20, 10, 500);
    // One line every 10 ms for 500 ms: at most 51, and how many fewer only says how busy
    // the machine was (the timer's slack), which is no fault of the bench.
    expect(latencies.length).toBeGreaterThan(0);
    expect(latencies.length).toBeLessThanOrEqual(51);
    for (const ms of latencies) expect(ms).toBeGreaterThan(0);
    // Every storm client has gone and its child been reaped: whatever the server had to say, it said.
    await pollUntil(() => clientChildrenOf(server.pid).length === 0, 20_000, 'every child to be reaped');
    expect(server.stderr()).not.toMatch(/ERROR/);
  });
});

describe('bench: machine facts', () => {
  it('times a page fault from the faults /proc counted while 32 MiB were touched', () => {
    const micros = pageFaultMicros();
    expect(Number.isFinite(micros)).toBe(true);
    expect(micros).toBeGreaterThan(0);
  });
});
