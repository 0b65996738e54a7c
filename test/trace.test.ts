import { afterEach, describe, expect, it } from 'vitest';
import { SPARE_NAME } from '../src/child/spare.js';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed } from './helpers/processes.js';
import { startServer, stopAllServers } from './helpers/server.js';

afterEach(stopAllServers);

describe('--trace', () => {
  it('shows one message going from a child through the pipe to the parent and out', async () => {
    const server = await startServer(['--trace', '--log-level', 'warn']);
    const alice = await TestClient.connect(server.port);
    const bob = await TestClient.connect(server.port);
    try {
      await bob.waitFor('Type /help');
      bob.send('hello alice\r\n');
      await alice.waitFor('hello alice');
      // The child that wrote the line names itself in its trace.
      const recordLine = / child +(\d+) {2}record msg, 11 bytes of data/;
      await pollUntil(() => recordLine.test(server.stderr()), 2_000, 'the child\'s record line');
      const child = Number(recordLine.exec(server.stderr())?.[1]);
      await pollUntil(() => new RegExp(`child +${child}  kill\\(${server.pid}, SIGUSR1\\)`).test(server.stderr()), 2_000, 'the child\'s kill');
      // The parent's lines reach the test's pipe on their own schedule: wait for its send.
      const delivered = new RegExp(`record msg from child ${child}, 11 bytes of data\\n[^]*send\\(client of \\d+, \\d+ bytes\\) -> sent`);
      await pollUntil(() => delivered.test(server.stderr()), 2_000, 'the parent\'s send');
      const lines = server.stderr().split('\n');
      const at = (pattern: RegExp): number => lines.findIndex((line) => pattern.test(line));
      const stamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (TRACE|INFO |WARN |DEBUG|ERROR) /;
      expect(lines.filter(Boolean).every((line) => stamp.test(line))).toBe(true);
      expect(at(/parent +\d+ +sigtimedwait\(\) -> SIGUSR1 /)).toBeGreaterThan(-1);
      const record = at(new RegExp(`child +${child}  record msg, 11 bytes of data`));
      const write = at(new RegExp(`child +${child}  write\\(pipe, 26 bytes\\): 1 record\\(s\\)`));
      const read = at(/parent +\d+ +read\(pipe\) -> \d+ bytes/);
      const received = at(new RegExp(`parent +\\d+ +  record msg from child ${child}, 11 bytes of data`));
      const sent = lines.findIndex((line, i) => i > received && /send\(client of \d+, \d+ bytes\) -> sent/.test(line));
      expect(record).toBeGreaterThan(-1);
      expect(write).toBeGreaterThan(record);
      expect(received).toBeGreaterThan(read);
      expect(sent).toBeGreaterThan(received);
    } finally {
      alice.close();
      bob.close();
    }
    await pollUntil(() => /waitpid\(-1, WNOHANG\) -> child \d+ ended \(code 0\)/.test(server.stderr()), 3_000, 'a traced reap');
  });

  it('shows each new connection waking the parent by SIGUSR1 (POLL_IN on the listening socket), not by the 1 s timeout', async () => {
    const server = await startServer(['--trace', '--log-level', 'warn']);
    const trace = (): string[] => server.stderr().split('\n');
    const count = (pattern: RegExp): number => trace().filter((line) => pattern.test(line)).length;
    const spareReady = /sigtimedwait\(\) -> SIGUSR1 \(POLL_IN on fd \d+: the zygote's answer: a spare child\)/;
    const connectionWaiting = /sigtimedwait\(\) -> SIGUSR1 \(POLL_IN on fd (\d+): a connection is waiting\)/;
    // The first spare's own wake-up may have merged with another SIGUSR1 pending then (the
    // hasher's first record, under load): wait for the spare itself.
    await pollUntil(() => childrenNamed(server.pid, SPARE_NAME).length >= 1, 10_000, 'the first spare');
    const clients: TestClient[] = [];
    try {
      for (let i = 1; i <= 3; i++) {
        // One at a time, each once the zygote's next spare is in: two SIGUSR1s pending at once would be one.
        const spares = count(spareReady);
        const client = await TestClient.connect(server.port);
        clients.push(client);
        await client.waitFor('Type /help');
        const accepted = new RegExp(`parent +\\d+ +accept\\(\\) -> fd \\d+ from 127\\.0\\.0\\.1:${client.socket.localPort}$`);
        await pollUntil(() => count(accepted) === 1, 5_000, `the accept() of client ${i}`);
        await pollUntil(() => count(spareReady) > spares, 10_000, `the spare after client ${i}`);
        // The wake-up next to its accept() (before it, or after it when the connection came
        // while the loop was busy and its signal waited) says a connection was waiting.
        const lines = trace();
        const at = lines.findIndex((line) => accepted.test(line));
        const wakes = lines.map((line, index) => ({ line, index })).filter(({ line }) => / sigtimedwait\(\) -> /.test(line));
        const before = wakes.filter(({ index }) => index < at).at(-1)?.line ?? '';
        const after = wakes.find(({ index }) => index > at)?.line ?? '';
        expect(connectionWaiting.test(before) || connectionWaiting.test(after), `${before}\n${lines[at] ?? ''}\n${after}`).toBe(true);
      }
      expect(count(connectionWaiting)).toBe(3); // one wake-up per connection, by the kernel's signal
    } finally {
      for (const client of clients) client.close();
    }
  });
});

describe('--trace-idle', () => {
  // A client idle past --idle-timeout 1 is dropped by the idle check that follows a
  // wake-up with nothing to do: once it is gone, such a wake-up has happened.
  async function idleWakeUps(flags: string[]): Promise<string> {
    const server = await startServer(['--trace', '--idle-timeout', '1', ...flags]);
    const client = await TestClient.connect(server.port);
    try {
      await client.waitFor('idle for more than 1 s', 5_000);
    } finally {
      client.close();
    }
    return server.stderr();
  }

  it('leaves the idle wake-ups out of --trace unless asked', async () => {
    const stderr = await idleWakeUps([]);
    expect(stderr).toContain('sigtimedwait() -> SIGUSR1');
    expect(stderr).not.toContain('sigtimedwait() -> timeout');
  });

  it('shows them with --trace-idle', async () => {
    expect(await idleWakeUps(['--trace-idle'])).toMatch(/TRACE parent +\d+ +sigtimedwait\(\) -> timeout after \d/);
  });
});
