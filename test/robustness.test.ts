import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, readdirSync, closeSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeRecord, RecordType } from '../src/protocol/record.js';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { clientChildrenOf, descriptors, isAlive, processState } from './helpers/processes.js';
import { BIN, ROOT, startServer, stopAllServers, type RunningServer } from './helpers/server.js';

const clients: TestClient[] = [];
const helpers: ChildProcess[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const helper of helpers.splice(0)) helper.kill('SIGKILL');
  await stopAllServers();
});

async function connect(server: RunningServer, count: number, localAddress?: string): Promise<TestClient[]> {
  const made: TestClient[] = [];
  for (let i = 0; i < count; i++) made.push(await TestClient.connect(server.port, '127.0.0.1', localAddress));
  clients.push(...made);
  for (const client of made) await client.waitFor(/Type \/help|full|Too many/);
  return made;
}

function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Lines that start with `<nick>` and a number: what the load tests send. */
function countTagged(client: TestClient, tag: string): number {
  return client.lines().filter((line) => line.includes(tag)).length;
}

describe('slow consumers', () => {
  it('disconnects a client that never reads while 20 others get every one of 2,000 lines of 400 bytes', async () => {
    const server = await startServer(['--rate-limit', '0', '--max-per-ip', '0', '--log-level', 'warn']);
    const silent = spawn('python3', [path.join(ROOT, 'test/fixtures/silent-client.py'), String(server.port), '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
    helpers.push(silent);
    await new Promise((resolve) => silent.stdout.once('data', resolve));
    const active = await connect(server, 20);
    // Every child (the silent client's too) has started: the parent holds what 21 clients need.
    await pollUntil(() => clientChildrenOf(server.pid).length === 21, 5_000, '21 children');
    const rssBefore = rssKiB(server.pid);
    const perClient = 100;
    active.forEach((client, c) => {
      let burst = '';
      for (let i = 0; i < perClient; i++) burst += `#L c${c} n${i} ${'x'.repeat(380)}\r\n`;
      client.send(burst);
    });
    const expected = (active.length - 1) * perClient;
    await pollUntil(() => active.every((client) => countTagged(client, '#L ') >= expected), 30_000, 'every line to every active client');
    await pollUntil(() => /disconnect .*: kicked \(too slow/.test(server.stderr()), 5_000, 'the silent client to be disconnected');
    for (const client of active) expect(countTagged(client, '#L ')).toBe(expected);
    const rssAfter = rssKiB(server.pid);
    // 15 MB went through; the parent holds what docs/architecture.md promises: per client a
    // send queue (256 KiB) and what one pipe read adds (128 KiB), and V8's heap some room.
    expect(rssAfter - rssBefore).toBeLessThan(21 * (256 + 128) + 8 * 1024);
  }, 60_000);
});

describe('a fast client', () => {
  it('has a paste read in batches, and a short line after it still goes out at once, not held for more', async () => {
    const server = await startServer(['--rate-limit', '0', '--no-timestamps']);
    const [alice, bob] = (await connect(server, 2)) as [TestClient, TestClient];
    bob.send(Array.from({ length: 200 }, (_, i) => `paste ${i}\r\n`).join(''));
    await pollUntil(() => countTagged(alice, '> paste ') === 200, 3_000, 'the whole paste');
    // Bob's child read in batches (SO_RCVLOWAT 4 KiB): a lone short line must not wait for 4 KiB more.
    bob.send('after the paste\r\n');
    await alice.waitFor('> after the paste');
    bob.send('and one more\r\n');
    await alice.waitFor('> and one more');
  });
});

describe('flood control', () => {
  it('throttles a flooder, then disconnects it, while the others chat on', async () => {
    const server = await startServer(['--rate-limit', '10', '--rate-burst', '20']);
    const [alice, flooder] = (await connect(server, 2)) as [TestClient, TestClient];
    let flood = '';
    for (let i = 0; i < 30; i++) flood += `flood ${i}\r\n`;
    flooder.send(flood);
    await flooder.waitFor('You are sending more than 10 lines a second: lines are being dropped.');
    flooder.send(Array.from({ length: 100 }, (_, i) => `more ${i}\r\n`).join(''));
    await flooder.waitFor('Disconnected: flooding.');
    await flooder.waitForClose();
    // The flooder's child wrote its records in order: after its leaving, all of its lines are here.
    await alice.waitFor(/left \(disconnected: flooding\)/);
    // The burst passed; of the rest, only what the bucket refilled meanwhile (a line per 100 ms).
    const passed = countTagged(alice, '> flood ');
    expect(passed).toBeGreaterThanOrEqual(20);
    expect(passed).toBeLessThan(30);
    for (let i = 0; i < 20; i++) expect(alice.text).toContain(`> flood ${i}\r\n`);
    const [bob] = (await connect(server, 1)) as [TestClient];
    bob.send('still fine\r\n');
    await alice.waitFor('still fine');
  });
});

describe('crashes', () => {
  it('keeps 20 chatting when 10 of 30 children are killed with SIGKILL mid-traffic: no zombies, 10 notices', async () => {
    const server = await startServer(['--rate-limit', '0', '--max-per-ip', '0', '--no-timestamps']);
    const all = await connect(server, 30);
    await pollUntil(() => clientChildrenOf(server.pid).length === 30, 2_000, '30 children'); // each names itself as it starts
    const pids = clientChildrenOf(server.pid);
    expect(pids).toHaveLength(30);
    const [watcher] = all as [TestClient];
    const traffic = setInterval(() => all.forEach((client, i) => client.send(`tick from ${i}\r\n`)), 20);
    await pollUntil(() => countTagged(watcher, '> tick from ') >= 3 * 29, 10_000, 'the traffic to flow');
    const victims = pids.slice(-10);
    for (const pid of victims) process.kill(pid, 'SIGKILL');
    await pollUntil(() => victims.every((pid) => processState(pid) === null), 2_000, 'the killed children to be reaped');
    await pollUntil(() => (watcher.text.match(/left \(connection lost\)/g) ?? []).length === 10, 3_000, '10 lost notices');
    clearInterval(traffic);
    expect(clientChildrenOf(server.pid).filter((pid) => !isAlive(pid))).toEqual([]);
    expect(clientChildrenOf(server.pid)).toHaveLength(20);
    await pollUntil(() => all.filter((client) => client.closed).length === 10, 2_000, 'the 10 victims\' clients to be closed');
    const survivors = all.filter((client) => !client.closed);
    const last = survivors[survivors.length - 1] as TestClient;
    last.send('after the massacre\r\n');
    await watcher.waitFor('after the massacre');
  });
});

describe('reaping', () => {
  const hasStrace = spawnSync('sh', ['-c', 'command -v strace']).status === 0;
  const inCI = process.env.CI === 'true';

  // waitpid(-1, WNOHANG) walks every child the server has: once per loop turn, it cost
  // 0.24 ms a turn with 10,000 clients. The loop calls it when SIGCHLD says a child ended.
  it.skipIf(!hasStrace && !inCI)(`calls waitpid only when a child has ended, not once per line${hasStrace ? '' : ' (skipped: strace is not installed)'}`, async () => {
    const server = await startServer(['--rate-limit', '0', '--no-timestamps']);
    const [alice, bob, carol] = (await connect(server, 3)) as [TestClient, TestClient, TestClient];
    await pollUntil(() => clientChildrenOf(server.pid).length === 3, 2_000, '3 children');
    const carolsChild = clientChildrenOf(server.pid)[2] as number;
    carol.send('carol is here\r\n'); // announced, so her end is told
    await bob.waitFor('carol is here');
    const strace = spawn('strace', ['-e', 'trace=wait4', '-p', String(server.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    helpers.push(strace);
    let traced = '';
    strace.stderr.on('data', (chunk: Buffer) => (traced += chunk.toString()));
    await pollUntil(() => traced.includes('attached'), 5_000, 'strace to attach');
    // 100 lines, each waited for: at least 100 turns of the loop.
    for (let i = 0; i < 100; i++) {
      alice.send(`turn ${i}\r\n`);
      await bob.waitFor(`turn ${i}\r\n`);
    }
    const waitpids = (): string[] => traced.split('\n').filter((line) => line.startsWith('wait4('));
    // None is due: at most the once-a-second call in case a SIGCHLD was missed.
    expect(waitpids().length).toBeLessThan(25);
    // A child that ends is reaped at once, and its client's end told.
    process.kill(carolsChild, 'SIGKILL');
    await pollUntil(() => waitpids().some((line) => line.endsWith(`= ${carolsChild}`)), 2_000, 'the killed child to be reaped');
    await bob.waitFor('left (connection lost)');
    await carol.waitForClose();
    expect(processState(carolsChild)).toBeNull();
  });
});

describe('record integrity', () => {
  function pipeTargets(pid: number): Map<string, string[]> {
    const byInode = new Map<string, string[]>();
    for (const { fd, target } of descriptors(pid)) {
      if (target.startsWith('pipe:')) byInode.set(target, [...(byInode.get(target) ?? []), String(fd)]);
    }
    return byInode;
  }

  /**
   * Opens the server's record pipe through /proc. It is the pipe of which the parent
   * holds both ends and a child one end only (it closed the read end), while Node's
   * own internal pipes appear in the child with both ends.
   */
  function openServerPipe(server: RunningServer): number {
    const inChild = pipeTargets(clientChildrenOf(server.pid)[0] as number);
    const inParent = pipeTargets(server.pid);
    const ours = [...inChild].filter(([target, fds]) => fds.length === 1 && inParent.get(target)?.length === 2);
    expect(ours).toHaveLength(1);
    const fd = inParent.get((ours[0] as [string, string[]])[0])?.[0] as string;
    return openSync(`/proc/${server.pid}/fd/${fd}`, 'w');
  }

  it('skips and counts garbage written into the pipe; later records still arrive', async () => {
    const server = await startServer();
    const [alice, bob] = (await connect(server, 2)) as [TestClient, TestClient];
    await pollUntil(() => clientChildrenOf(server.pid).length === 2, 2_000, 'both children to start');
    const pipe = openServerPipe(server);
    try {
      writeSync(pipe, Buffer.from([0xff, 0xff, 0, 0, 9, 9, 9, 9, 0x50, 0x43, 1, 2, 3]));
      // A record with a valid shape but a wrong checksum, then one from a pid the server does not know.
      const forged = encodeRecord(RecordType.msg, 1, Buffer.from('forged'));
      forged.writeUInt32LE(forged.readUInt32LE(4) ^ 1, 4);
      writeSync(pipe, forged);
      writeSync(pipe, encodeRecord(RecordType.msg, 999_999, Buffer.from('from nowhere')));
    } finally {
      closeSync(pipe);
    }
    bob.send('after the garbage\r\n');
    await alice.waitFor('after the garbage');
    await pollUntil(() => /pipe: skipped \d+ bytes that were not a valid record/.test(server.stderr()), 2_000, 'the corrupt-record log');
    await pollUntil(() => /record type 1 from unknown pid 999999/.test(server.stderr()), 2_000, 'the unknown-pid log');
    expect(alice.text).not.toContain('forged');
    expect(alice.text).not.toContain('from nowhere');
  });
});

describe('fork failure', () => {
  // As root the process limit does not apply: run the server as nobody, then cap it.
  // Only root can count every thread of the server's user (nobody runs nothing else).
  const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
  /** Not root, it has no user to become (the suite's POSIX_CHAT_USER=root is for root). */
  const AS_ITSELF = { POSIX_CHAT_USER: '' };
  const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
  const missing = ['setpriv', 'prlimit', 'ps'].filter((tool) => !has(tool));
  const why =
    process.getuid?.() !== 0
      ? 'needs root, to run the server as nobody under a process limit'
      : missing.length > 0
        ? `missing ${missing.join(', ')} (util-linux, procps)`
        : spawnSync(asNobody[0] as string, [...asNobody.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(BIN)})`]).status !== 0
          ? `nobody cannot read ${BIN} (the checkout must be readable by others)`
          : '';
  if (why !== '' && process.env.CI === 'true') {
    it('can run the server as nobody under a process limit (required under CI)', () => {
      throw new Error(`cannot test fork() failing: ${why}`);
    });
    return;
  }

  it.skipIf(why !== '')(`tells the client the server is busy when fork() fails with EAGAIN, and keeps serving${why === '' ? '' : ` (skipped: ${why})`}`, async () => {
    // RLIMIT_NPROC counts every thread of nobody's, the server's included: count them
    // while a probe server runs (its threads, its zygote and the zygote's spare child),
    // then leave room for one more: the first client takes the spare, the second the
    // spare forked next, and the spare after that cannot be forked.
    const nobodysThreads = (): number => spawnSync('ps', ['-L', '-u', '65534', '--no-headers'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;
    const probe = await startServer([], AS_ITSELF, asNobody);
    await pollUntil(() => nobodysThreads() >= readdirSync(`/proc/${probe.pid}/task`).length + 2, 2_000, 'the zygote and its spare');
    const threads = nobodysThreads();
    await stopAllServers();
    // Its zygote dies with it and is reaped by init, maybe a moment later: until then it counts.
    await pollUntil(() => nobodysThreads() === 0, 5_000, "nobody's processes to be gone");
    const limit = `--nproc=${threads + 1}:${threads + 1}`;
    // --max-clients: by default the server would derive it from this very process limit.
    const server = await startServer(['--max-clients', '100'], AS_ITSELF, ['prlimit', limit, ...asNobody]);
    const [alice, bob] = (await connect(server, 2)) as [TestClient, TestClient];
    const third = await TestClient.connect(server.port);
    clients.push(third);
    await third.waitFor('The server is busy; try again later.');
    await third.waitForClose();
    await pollUntil(() => /fork failed for .*: EAGAIN/.test(server.stderr()), 2_000, 'the fork failure log');
    alice.send('still here\r\n');
    await bob.waitFor('still here');
  });
});

describe('bad input', () => {
  it('survives random bytes, IAC storms, 1 MiB without a newline, NUL runs, giant escapes and absurd commands', async () => {
    const server = await startServer(['--rate-limit', '0']);
    const [alice, bob] = (await connect(server, 2)) as [TestClient, TestClient];
    const rssBefore = rssKiB(server.pid);
    const abusers = await connect(server, 6);
    const random = Buffer.alloc(256 * 1024);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    const payloads: Buffer[] = [
      random,
      Buffer.alloc(128 * 1024, 0xff), // IAC IAC IAC...: escaped 255s, which are not UTF-8
      Buffer.from(Array.from({ length: 40_000 }, (_, i) => [255, 251 + (i % 4), i % 256]).flat()), // negotiation storm
      Buffer.alloc(1024 * 1024, 'a'), // a line that never ends
      Buffer.alloc(256 * 1024, 0), // NUL runs
      Buffer.concat([Buffer.from('\x1b]0;'), Buffer.alloc(512 * 1024, 'x'), Buffer.from('\x07\r\n')]), // a giant OSC
      Buffer.from(`/${'x'.repeat(400)} ${'y'.repeat(50)}\r\n/msg ${'z'.repeat(300)} hi\r\n/join #${'q'.repeat(300)}\r\n/nick\r\n/\r\n//\r\n`),
    ];
    abusers.forEach((client, i) => client.send(payloads[i % payloads.length] as Buffer));
    (abusers[5] as TestClient).send(payloads[6] as Buffer);
    // Then a line from each abuser, after the end of any line, escape or telnet
    // subnegotiation left open: once bob has them all, every payload has been through.
    abusers.forEach((client, i) => client.send(Buffer.from(`\r\n\xff\xf0\r\nabuser ${i} is done\r\n`, 'latin1')));
    for (let i = 0; i < abusers.length; i++) await bob.waitFor(`abuser ${i} is done`, 20_000);
    alice.send('are we still here?\r\n');
    await bob.waitFor('are we still here?');
    expect(isAlive(server.pid)).toBe(true);
    expect(rssKiB(server.pid) - rssBefore).toBeLessThan(64 * 1024);
    // The line that never ended was delivered once, cut, with its sender told.
    await (abusers[3] as TestClient).waitFor('was cut');
    expect((bob.text.match(/a{512}/g) ?? []).length).toBe(1);
  });
});
