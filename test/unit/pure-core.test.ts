/**
 * The pure core (protocol, chat, cluster/protocol, contracts, config, pipe/writer, web:
 * PURE_CORE in .dependency-cruiser.cjs) must load and run without the native addon.
 * The compiled dist/ is copied to a temporary folder without build/, where the
 * addon cannot be found, and a separate node process imports and runs each module
 * there. A module of the core that pulled in src/posix/ would fail to load.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { constants, PIPE_BUF as addonPipeBuf } from '../../src/posix/index.js';
import { PIPE_BUF } from '../../src/protocol/record.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist');

/** The loader's words when the addon is missing (src/posix/binding.ts). */
const NO_ADDON = 'the native addon is not built';

let base = '';
/** The copy: dist/ and package.json, no build/. */
let copy = '';

beforeAll(() => {
  if (!existsSync(path.join(DIST, 'protocol', 'record.js'))) {
    throw new Error(`${DIST} is missing or incomplete: run \`npm run build\` first`);
  }
  base = mkdtempSync(path.join(tmpdir(), 'posix-chat-pure-'));
  copy = path.join(base, 'x');
  cpSync(DIST, path.join(copy, 'dist'), { recursive: true });
  cpSync(path.join(ROOT, 'package.json'), path.join(copy, 'package.json'));
});

afterAll(() => {
  if (base !== '') rmSync(base, { recursive: true, force: true });
});

/** Runs an ES module script with node in the copy; its own environment, no NODE_OPTIONS from vitest. */
function runInCopy(script: string): { code: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: copy, env, encoding: 'utf8', timeout: 20_000 });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Imports and exercises every module of the pure core; prints one JSON object. */
const PURE_SCRIPT = String.raw`
const record = await import('./dist/protocol/record.js');
const { crc32 } = await import('./dist/protocol/crc32.js');
const { TelnetDecoder, TelnetEdit, IAC } = await import('./dist/protocol/telnet.js');
const { LineEditor, cleanLines } = await import('./dist/protocol/line-editor.js');
const { LineAssembler } = await import('./dist/protocol/line-assembler.js');
const { TokenBucket } = await import('./dist/protocol/rate-limit.js');
const text = await import('./dist/protocol/text.js');
const { parseProxyHeader } = await import('./dist/protocol/proxy.js');
const { foreignProtocol } = await import('./dist/protocol/foreign.js');
const address = await import('./dist/protocol/address.js');
const { Chat } = await import('./dist/chat/chat.js');
const { ClassicChat } = await import('./dist/chat/classic-chat.js');
const cluster = await import('./dist/cluster/protocol.js');
const redisInput = await import('./dist/cluster/redis-input.js');
const sharedInput = await import('./dist/cluster/shared-input.js');
const { SharedStore } = await import('./dist/store/shared-store.js');
const contracts = await import('./dist/contracts.js');
const config = await import('./dist/config.js');
const { PipeWriter } = await import('./dist/pipe/writer.js');
const http = await import('./dist/protocol/http.js');
const websocket = await import('./dist/protocol/websocket.js');
const { answer } = await import('./dist/web/respond.js');

const out = {};
const decodeAll = (bytes) => {
  const records = [];
  const corrupt = [];
  const decoder = new record.RecordDecoder((info) => corrupt.push(info.discardedBytes));
  decoder.push(bytes, { record: (r) => records.push({ type: r.type, pid: r.pid, data: r.data.toString('utf8') }) });
  return { records, corrupt };
};

// protocol/record.js: a record round trip, after three bytes of garbage.
const encoded = record.encodeRecord(record.RecordType.msg, 4242, Buffer.from('hello'));
out.record = { length: encoded.length, pipeBuf: record.PIPE_BUF, ...decodeAll(Buffer.concat([Buffer.from([1, 2, 3]), encoded])) };

// protocol/crc32.js: the standard check value.
out.crc32 = (crc32(Buffer.from('123456789')) >>> 0).toString(16);

// protocol/telnet.js + line-editor.js: a negotiation, an erase and an escape sequence around a line.
const target = Buffer.alloc(64);
const lines = [];
const editor = new LineEditor(target, 0, 32, { line: (length, cut) => lines.push({ text: target.toString('utf8', 0, length), cut }) });
const replies = [];
const telnet = new TelnetDecoder({
  data: (b) => editor.byte(b),
  text: (bytes, from, to) => editor.text(bytes, from, to),
  edit: (what) => (what === TelnetEdit.EraseChar ? editor.eraseChar() : editor.eraseLine()),
  reply: (bytes) => replies.push([...bytes]),
});
const input = Buffer.concat([
  Buffer.from([IAC, 253, 3]), // IAC DO SUPPRESS-GO-AHEAD
  Buffer.from('hellx'),
  Buffer.from([IAC, 247]), // IAC EC
  Buffer.from('o\x1b[31m!\r\n'),
]);
telnet.feed(input, input.length);
out.telnet = { replies, lines };
out.cleanLines = cleanLines(Buffer.from('one\r\ntwo\x07\n'), 80);

// protocol/line-assembler.js: a short line and a cut one.
const assembled = [];
const area = Buffer.alloc(8);
const assembler = new LineAssembler(area, 0, 8);
const chunk = Buffer.from('abc\r\nlonger than eight\n');
assembler.feed(chunk, chunk.length, { line: (length, cut) => assembled.push({ text: area.toString('utf8', 0, length), cut }) });
out.assembler = assembled;

// protocol/rate-limit.js: a burst of 2 at 1 a second, on a fake clock.
let clock = 0;
const bucket = new TokenBucket(1, 2, () => clock);
const decisions = [bucket.take(), bucket.take(), bucket.take(), bucket.take()];
clock = 1000;
decisions.push(bucket.take());
out.rateLimit = decisions;

// protocol/text.js
out.text = [text.hasUnsafeText('plain words'), text.hasUnsafeText('a\u202eb'), text.isInvisibleControl(0x85), text.isUnsafeCodePoint(0x41)];

// protocol/proxy.js and address.js: a PROXY header, and a trusted-proxy range.
const header = Buffer.from('PROXY TCP6 ::ffff:192.0.2.7 ::1 5000 4444\r\nhi');
out.proxy = parseProxyHeader(header, header.length);
out.range = address.inRange(address.parseRange('192.0.2.0/24'), '::ffff:192.0.2.7');

// protocol/foreign.js: an HTTP request on the telnet port.
const request = Buffer.from('GET / HTTP/1.1\r\n');
out.foreign = foreignProtocol(request, request.length);

// chat/chat.js: two clients connect, one speaks; a fake delivery records what is sent.
const sent = [];
const connections = new Map();
const delivery = {
  connections,
  send: (connection, data) => sent.push({ to: connection.pid, text: data.toString() }),
  broadcast: (data, except) => sent.push({ to: 'all', except: except?.pid ?? null, text: data.toString() }),
  group: () => {
    const members = new Set();
    return {
      add: (c) => members.add(c.pid),
      remove: (c) => members.delete(c.pid),
      send: (data, except) => sent.push({ to: [...members].filter((pid) => pid !== except?.pid), text: data.toString() }),
    };
  },
  disconnect: () => {},
};
const alice = { pid: 101, fd: 7, address: '127.0.0.1', port: 5001, lastActive: 0 };
const bob = { pid: 102, fd: 8, address: '127.0.0.1', port: 5002, lastActive: 0 };
const chat = new Chat({ historyLines: 5, timestamps: false, motd: ['the motd'], maxLineBytes: 512 });
chat.attach(delivery);
chat.onConnect(alice);
chat.onLine(alice, Buffer.from(''), false); // Enter: the room hears of alice
chat.onConnect(bob);
chat.onLine(bob, Buffer.from(''), false);
chat.onLine(alice, Buffer.from('hi all'), false);
out.chat = sent.splice(0);

// chat/classic-chat.js
const classic = new ClassicChat();
classic.attach(delivery);
classic.onConnect(alice);
classic.onLine(bob, Buffer.from('raw'));
out.classic = sent.splice(0);

// cluster/protocol.js: a link message through a record; cluster/redis-input.js: event checks.
const link = decodeAll(cluster.encodeLinkRecord(55, { t: 'ack', seq: 3 }));
out.cluster = {
  type: link.records[0].type,
  pid: link.records[0].pid,
  message: JSON.parse(link.records[0].data),
  good: redisInput.parseChatEvent('{"k":"line","room":"#lobby","nick":"bob","text":"hi","me":false}'),
  unsafe: redisInput.parseChatEvent('{"k":"line","room":"#lobby","nick":"bob","text":"\\u001b[2J","me":false}'),
  chunks: cluster.chunks([1, 2, 3], 2),
};

// contracts.js: types only; it must still load.
out.contracts = Object.keys(contracts);

// config.js
const command = config.parseCommandLine([], {});
out.config = { kind: command.kind, port: command.config.port, host: command.config.host, flagged: config.parseCommandLine(['--port', '5'], {}).config.port };

// pipe/writer.js: two records batched into one write, one wake-up.
const writes = [];
let wakes = 0;
const writer = new PipeWriter({ write: (buffer, length) => writes.push(Buffer.from(buffer.subarray(0, length))), wake: () => wakes++ }, 77);
writer.queue(record.RecordType.msg, Buffer.from('xabcx'), 1, 3);
writer.queue(record.RecordType.disc, Buffer.from('de'), 0, 2);
const flushed = writer.flush();
out.writer = { flushed, writes: writes.length, wakes, ...decodeAll(Buffer.concat(writes)), again: writer.flush(), wakesAfter: wakes };

// protocol/http.js, web/respond.js, protocol/websocket.js: a handshake, then a masked frame.
const head = Buffer.from('GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
const parsed = http.parseRequestHead(head, head.length);
const reply = answer(parsed.request, { site: new Map(), origins: [] });
const frames = [];
const frameDecoder = new websocket.FrameDecoder({ message: (data, length) => frames.push(data.toString('utf8', 0, length)), ping: () => {}, close: (code) => frames.push(code) }, 64);
const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]);
frameDecoder.feed(frame, frame.length);
out.web = { kind: reply.kind, accept: /Sec-WebSocket-Accept: (\S+)/.exec(reply.bytes.toString())[1], frames };

// cluster/shared-input.js and store/shared-store.js: a forged role refused; a write sent to the link.
const links = [];
const shared = new SharedStore({ attachShared: () => {}, sendShared: (w) => links.push(w.item.c) }, () => {});
shared.fromLink({ t: 'snapshot', items: [], first: true, last: true }); // kept until the database opens
out.shared = { forged: sharedInput.readShared('account', 'eve', JSON.stringify({ name: 'eve', role: 'root', hash: '', created: 1 })), unwritten: shared.unwritten().length, links };
process.stdout.write(JSON.stringify(out));
`;

describe('the pure core without the addon', () => {
  it('loads and runs every pure module from a copy of dist/ that has no build/', () => {
    expect(existsSync(path.join(copy, 'build'))).toBe(false);
    expect(existsSync(path.join(copy, '..', 'build'))).toBe(false);

    const { code, stdout, stderr } = runInCopy(PURE_SCRIPT);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as Record<string, unknown>;

    expect(out.record).toEqual({
      length: 15 + 5,
      pipeBuf: 4096,
      records: [{ type: 1, pid: 4242, data: 'hello' }],
      corrupt: [3],
    });
    expect(out.crc32).toBe('cbf43926');
    expect(out.telnet).toEqual({ replies: [[255, 252, 3]], lines: [{ text: 'hello!', cut: false }] });
    expect(out.cleanLines).toEqual(['one', 'two']);
    expect(out.assembler).toEqual([
      { text: 'abc', cut: false },
      { text: 'longer t', cut: true },
    ]);
    expect(out.rateLimit).toEqual(['pass', 'pass', 'first-drop', 'drop', 'pass']);
    expect(out.text).toEqual([false, true, true, false]);
    expect(out.proxy).toEqual({ kind: 'header', version: 1, length: 43, source: { address: '192.0.2.7', port: 5000 }, check: false });
    expect(out.range).toBe(true);
    expect(out.foreign).toBe('an HTTP request');

    const chat = out.chat as { to: unknown; text: string }[];
    expect(chat).toContainEqual({ to: 101, text: '*** Welcome to posix-chat, guest-1! You are in #lobby.\r\n' });
    expect(chat).toContainEqual({ to: 101, text: '*** the motd\r\n' });
    expect(chat).toContainEqual({ to: 102, text: '*** Here with you: guest-1.\r\n' });
    expect(chat).toContainEqual({ to: [101], text: '*** guest-2 joined #lobby\r\n' });
    expect(chat.at(-1)).toEqual({ to: [102], text: '<guest-1> hi all\r\n' });

    expect(out.classic).toEqual([
      { to: 'all', except: 101, text: '[127.0.0.1] (101):Connected\n' },
      { to: 'all', except: 102, text: '[127.0.0.1] (102):raw\n' },
    ]);
    expect(out.cluster).toEqual({
      type: 7,
      pid: 55,
      message: { t: 'ack', seq: 3 },
      good: { k: 'line', room: '#lobby', nick: 'bob', text: 'hi', me: false },
      unsafe: null,
      chunks: [[1, 2], [3]],
    });
    expect(out.contracts).toEqual([]);
    expect(out.shared).toEqual({ forged: 'a bad role for eve', unwritten: 0, links: [] });
    expect(out.web).toEqual({ kind: 'upgrade', accept: 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', frames: ['hi'] });
    expect(out.config).toEqual({ kind: 'run', port: 4444, host: '127.0.0.1', flagged: 5 });
    expect(out.writer).toEqual({
      flushed: 2,
      writes: 1,
      wakes: 1,
      records: [
        { type: 1, pid: 77, data: 'abc' },
        { type: 2, pid: 77, data: 'de' },
      ],
      corrupt: [],
      again: 0,
      wakesAfter: 1,
    });
  });

  it('loads every module under dist/protocol/ and dist/chat/ there, those the script above does not name included', () => {
    const modules = ['protocol', 'chat'].flatMap((folder) =>
      readdirSync(path.join(copy, 'dist', folder))
        .filter((name) => name.endsWith('.js'))
        .map((name) => `./dist/${folder}/${name}`),
    );
    expect(modules).toContain('./dist/chat/rules.js');
    const { code, stdout, stderr } = runInCopy(
      `const names = ${JSON.stringify(modules)}; for (const name of names) await import(name); process.stdout.write(String(names.length));`,
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe(String(modules.length));
  });

  it('cannot load posix/index.js there: the loader says the addon is not built', () => {
    const { code, stdout, stderr } = runInCopy(`await import('./dist/posix/index.js'); process.stdout.write('loaded');`);
    expect(code).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toContain(NO_ADDON);
    expect(stderr).toContain(path.join(copy, 'build', 'Release', 'posix.node'));
  });

  it('cannot load a module outside the core that uses the addon (trace.js) there either', () => {
    // What the first test would see if a pure module imported src/posix/ or trace.ts.
    const { code, stderr } = runInCopy(`await import('./dist/trace.js');`);
    expect(code).not.toBe(0);
    expect(stderr).toContain(NO_ADDON);
  });
});

describe('PIPE_BUF', () => {
  it("in the record codec equals the addon's value from <limits.h>", () => {
    expect(PIPE_BUF).toBe(constants.PIPE_BUF);
    expect(addonPipeBuf).toBe(constants.PIPE_BUF);
  });
});
