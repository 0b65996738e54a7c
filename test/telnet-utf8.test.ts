/**
 * UTF-8 typed into the real inetutils telnet, driven by expect
 * (test/fixtures/telnet-utf8.exp). In its default mode that client turns some UTF-8
 * continuation bytes into telnet commands (src/protocol/telnet.ts, manglingByte()):
 * the first test records exactly what it sends, the second that the text still arrives
 * intact at another client, and that the telnet still shows what it receives after.
 */
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { ROOT, startServer, stopAllServers } from './helpers/server.js';

const missing = ['telnet', 'expect'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const HOW = 'install them with: apt-get install -y inetutils-telnet expect (.ci/run does)';
const inCI = process.env.CI === 'true';
const SCRIPT = path.join(ROOT, 'test/fixtures/telnet-utf8.exp');

const clients: TestClient[] = [];
const listeners: net.Server[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const listener of listeners.splice(0)) listener.close();
  await stopAllServers();
});

const JAPANESE = '日本語';
const RUSSIAN = 'привет, как у вас дела?';
const THUMBS_UP = '👍🏽'; // U+1F44D U+1F3FD (medium skin tone: F0 9F 8F BD)
/** Letters whose UTF-8 holds each continuation byte inetutils telnet maps: я 0x8F, ф 0x84, К 0x9A. */
const MORE = 'я ф К';

const DO_TM = Buffer.from([255, 253, 6]);

/** Runs the expect script; resolves with its exit code and everything it printed. */
function typeInTelnet(port: number, ready: string, after: string, lines: string[]): Promise<{ code: number | null; output: string }> {
  const run = spawn('expect', [SCRIPT, String(port), ready, after, ...lines], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' },
  });
  let output = '';
  run.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  run.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const killer = setTimeout(() => run.kill('SIGKILL'), 40_000);
  return new Promise((resolve) =>
    run.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, output });
    }),
  );
}

/**
 * What inetutils telnet sends for a typed line, per its source (telnet.c telsnd(),
 * sys_bsd.c TerminalSpecialChars(); see manglingByte()): a byte whose low seven bits are
 * a terminal special character goes as that character's command and IAC DO TIMING-MARK.
 */
function expectedWire(line: string): number[] {
  const TM = [255, 253, 6];
  const out: number[] = [];
  for (const byte of Buffer.from(line, 'utf8')) {
    if (byte === 0x83) out.push(255, 244, ...TM); // ^C: IP
    else if (byte === 0x9c) out.push(255, 243, ...TM); // ^\: BRK
    else if (byte === 0x9a) out.push(255, 237, ...TM); // ^Z: SUSP
    else if (byte === 0x8f) out.push(255, 245, ...TM); // ^O: AO
    else out.push(byte); // 0x84 (^D) goes as it is: EOF is only sent in LINEMODE
  }
  out.push(0x0d, 0x0a);
  return out;
}

describe('UTF-8 through a real telnet client', () => {
  if (missing.length > 0 && inCI) {
    it('has telnet and expect installed (required under CI)', () => {
      throw new Error(`missing ${missing.join(' and ')}: ${HOW}`);
    });
    return;
  }
  const skipped = missing.length > 0 ? ` (skipped: ${HOW})` : '';

  it.skipIf(missing.length > 0)(`the bytes inetutils telnet sends: some continuation bytes become IP, BRK, SUSP or AO${skipped}`, async () => {
    const lines = [JAPANESE, RUSSIAN, THUMBS_UP, MORE];
    const expected = lines.flatMap(expectedWire);
    let received = Buffer.alloc(0);
    let answered = 0;
    const listener = net.createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        // Answer each DO TIMING-MARK, as the server does: until then the client drops what it receives.
        let marks = 0;
        for (let at = received.indexOf(DO_TM); at !== -1; at = received.indexOf(DO_TM, at + 3)) marks++;
        for (; answered < marks; answered++) socket.write(Buffer.from([255, 252, 6]));
        if (received.length >= expected.length) socket.write('all received\r\n');
      });
      socket.on('error', () => {});
    });
    listeners.push(listener);
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as net.AddressInfo).port;
    const { code, output } = await typeInTelnet(port, 'Escape character is', 'all received', lines);
    expect(output, output).toMatch(/^OK$/m);
    expect(code).toBe(0);
    expect([...received].map((byte) => byte.toString(16).padStart(2, '0')).join(' ')).toBe(expected.map((byte) => byte.toString(16).padStart(2, '0')).join(' '));
  }, 60_000);

  it.skipIf(missing.length > 0)(`arrives intact at another client: ${JAPANESE}, ${RUSSIAN}, ${THUMBS_UP}${skipped}`, async () => {
    const server = await startServer();
    const bob = await TestClient.connect(server.port);
    clients.push(bob);
    await bob.waitFor('Type /help');
    bob.send('/nick bob\r\n');
    await bob.waitFor('You are now known as bob.');

    const utf8 = (): string => bob.received.toString('utf8');
    const typing = typeInTelnet(server.port, 'Type /help', '<bob> got them all', ['/nick alice', JAPANESE, RUSSIAN, THUMBS_UP, MORE]);
    try {
      await pollUntil(() => utf8().includes(`<alice> ${MORE}`), 20_000, `bob to get alice's lines (got ${JSON.stringify(utf8().slice(-400))})`);
    } finally {
      bob.send('got them all\r\n'); // what alice's telnet must still show
    }
    const { code, output } = await typing;
    expect(output, output).toMatch(/^OK$/m);
    expect(code).toBe(0);
    const said = utf8()
      .split('\r\n')
      .map((line) => line.replace(/^\[\d\d:\d\d\] /, '')) // the timestamp
      .filter((line) => line.startsWith('<alice> '));
    expect(said).toEqual([`<alice> ${JAPANESE}`, `<alice> ${RUSSIAN}`, `<alice> ${THUMBS_UP}`, `<alice> ${MORE}`]);
  }, 60_000);
});
