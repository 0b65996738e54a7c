/**
 * The one pipe every child writes its records to: records of nearly PIPE_BUF bytes from
 * many children at once must each arrive whole (a write of at most PIPE_BUF bytes to a
 * pipe is atomic), so no line is ever cut into or mixed with another.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_RECORD_DATA_BYTES } from '../src/protocol/record.js';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { clientChildrenOf } from './helpers/processes.js';
import { startServer, stopAllServers } from './helpers/server.js';

const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stopAllServers();
});

describe('the record pipe', () => {
  it('carries lines of the largest record from 30 children at once, each whole and in its sender\'s order', async () => {
    // --classic: a line's bytes reach the others as sent, as [ADDRESS] (PID):LINE.
    // --sendq: room for everything each client gets (about 1 MiB), so a test client slowed
    // down by a busy machine is never taken for one that stopped reading.
    const server = await startServer(['--classic', '--max-line', String(MAX_RECORD_DATA_BYTES), '--rate-limit', '0', '--max-per-ip', '0', '--sendq', String(4 * 1024 * 1024), '--log-level', 'warn']);
    const listener = await TestClient.connect(server.port);
    clients.push(listener);
    const SENDERS = 30;
    const LINES = 8;
    const senders: TestClient[] = [];
    for (let i = 0; i < SENDERS; i++) senders.push(await TestClient.connect(server.port));
    clients.push(...senders);
    await pollUntil(() => clientChildrenOf(server.pid).length === SENDERS + 1, 20_000, 'every child');
    await pollUntil(() => (listener.text.match(/:Connected$/gm) ?? []).length === SENDERS, 20_000, 'every join');

    // Each sender's lines: its number, the line's, then its own letter up to the limit.
    const line = (sender: number, n: number): string => {
      const head = `s${sender}-n${n}-`;
      return head + String.fromCharCode(65 + (sender % 26)).repeat(MAX_RECORD_DATA_BYTES - head.length);
    };
    // A short last line from each: once the listener has them all, it has every line before them.
    senders.forEach((sender, s) => sender.send(`${Array.from({ length: LINES }, (_, n) => `${line(s, n)}\n`).join('')}done ${s}\n`));
    await pollUntil(() => (listener.text.match(/:done \d+$/gm) ?? []).length === SENDERS, 60_000, 'every sender\'s last line').catch((error: unknown) => {
      throw new Error(`${String(error)}; the server said:\n${server.stderr().slice(-2000)}`);
    });

    const bodies = listener
      .lines()
      .map((received) => received.replace(/^\[127\.0\.0\.1\] \(\d+\):/, ''))
      .filter((body) => body !== 'Connected' && !body.startsWith('done '));
    expect(bodies).toHaveLength(SENDERS * LINES);
    const bySender = new Map<number, number[]>();
    for (const body of bodies) {
      const match = /^s(\d+)-n(\d+)-/.exec(body);
      if (!match) throw new Error(`a line that is no sender's: ${body.slice(0, 80)}...`);
      const [sender, n] = [Number(match[1]), Number(match[2])];
      expect(body.length).toBe(MAX_RECORD_DATA_BYTES);
      expect(body === line(sender, n), `line ${n} of sender ${sender} arrived changed`).toBe(true);
      bySender.set(sender, [...(bySender.get(sender) ?? []), n]);
    }
    expect(bySender.size).toBe(SENDERS);
    for (const sequence of bySender.values()) expect(sequence).toEqual(Array.from({ length: LINES }, (_, n) => n));
  }, 90_000);
});
