/**
 * What the parent's warm-up is for: no child compiles code of its own. A function V8
 * has not compiled before the zygote is forked is parsed and compiled again in every
 * child, writing heap pages the child shared with the zygote (docs/bench.md, "Where
 * the burst cost went"). V8's function log (--log-function-events), which the parent
 * and every process forked from it append to one file, records each parse: a function
 * each child parses appears once per child. Clients connect over telnet and over the
 * web port's WebSocket, CLIENTS of each, talk and leave; only the two functions a child
 * cannot run before its fork may be parsed that often: runSpare(), whose first call
 * makes the process a child, and _exit().
 *
 * Nor does a child optimise code of its own once its client has typed for a while, a
 * line per read (docs/bench.md, "The latency tail"): with --trace-opt, each process
 * prints a line per function it optimises, and one each child optimises appears once
 * per child.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { join } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed } from './helpers/processes.js';
import { startServer, stopAllServers, type RunningServer } from './helpers/server.js';
import { webPortOf } from './helpers/websocket.js';
import { CHILD_NAME } from '../src/child/spare.js';

/** Clients of each kind: a function each child of a kind compiles is parsed this many times, or more. */
const CLIENTS = 3;
/** Clients typing (of each kind), and their lines: past the read count where V8 optimised the path again in every child. */
const TYPISTS = 4;
const TYPED_LINES = 700;
/** The functions each child compiles, by design (see the top of this file). */
const EVERY_CHILD_COMPILES = ['_exit', 'runSpare'];

const dirs: string[] = [];
afterEach(async () => {
  await stopAllServers();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** How many times V8 parsed each function, from its log: `function,parse-function,SCRIPT,START,END,TIME,TIMESTAMP,NAME`. */
function parsesByFunction(log: string): Map<string, number> {
  const parses = new Map<string, number>();
  for (const line of log.split('\n')) {
    if (!line.startsWith('function,parse-function,')) continue;
    const fields = line.split(',');
    const key = `${fields.at(-1) ?? ''} (script ${fields[2] ?? ''}, at ${fields[3] ?? ''})`;
    parses.set(key, (parses.get(key) ?? 0) + 1);
  }
  return parses;
}

/**
 * How many times V8 optimised each function, from --trace-opt on the server's stdout
 * (the parent's and every child's): `[compiling method 0x... <JSFunction NAME (sfi =
 * 0x...)> (target TURBOFAN), mode: ...`. A child's functions keep the zygote's
 * addresses, so one compiled in every child appears that many times under one key.
 * Compiles on entering a loop (OSR) are left out: the parent's are not the children's.
 */
function optimisationsByFunction(trace: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of trace.matchAll(/\[compiling method 0x[0-9a-f]+ <JSFunction ([^>]*)> \(target ([A-Z_]+)\)(?! OSR)/g)) {
    const key = `${match[1] ?? ''} ${match[2] ?? ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** A browser's WebSocket client on the server's web port, once welcomed: what it sends, and all it has heard. */
async function webClient(server: RunningServer): Promise<{ ws: WebSocket; text: () => string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${webPortOf(server.stdout())}/ws`);
  let text = '';
  ws.on('message', (data: Buffer) => (text += data.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  await pollUntil(() => text.includes('Type /help'), 5_000, 'a web client welcomed');
  return { ws, text: () => text };
}

describe('the warm-up before the first fork', () => {
  it('leaves no function for the children to compile but runSpare and _exit', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'posix-chat-v8log-'));
    dirs.push(dir);
    const logFile = path.join(dir, 'v8.log');
    const server = await startServer(['--web-port', '0'], {}, [], ['--log-function-events', `--logfile=${logFile}`, '--no-logfile-per-isolate']);

    const telnet = [];
    for (let i = 0; i < CLIENTS; i++) telnet.push(await join(server));
    const web = [];
    for (let i = 0; i < CLIENTS; i++) web.push(await webClient(server));
    await pollUntil(() => childrenNamed(server.pid, CHILD_NAME).length === 2 * CLIENTS, 5_000, 'a child per client');

    // Every client says something (a paste of lines on telnet, within the default flood
    // control), everyone hears it, then all leave.
    for (const [i, client] of telnet.entries()) client.send(`line ${i}\r\n${`more ${i}\r\n`.repeat(5)}`);
    for (const [i, client] of web.entries()) client.ws.send(`from the web ${i}`);
    const last = `from the web ${CLIENTS - 1}`;
    for (const client of telnet) await client.waitFor(last);
    for (const client of web) await pollUntil(() => client.text().includes(`more ${CLIENTS - 1}`), 5_000, 'the telnet lines on the web');
    for (const client of telnet) client.close();
    for (const client of web) client.ws.close();
    await pollUntil(() => childrenNamed(server.pid, CHILD_NAME).length === 0, 10_000, 'every child gone');

    const parsedByEveryChild = [...parsesByFunction(readFileSync(logFile, 'latin1'))].filter(([, count]) => count >= CLIENTS).map(([key]) => key);
    const names = parsedByEveryChild.map((key) => key.slice(0, key.indexOf(' (script')) || '(anonymous)').sort();
    expect(names, `parsed in every child: ${parsedByEveryChild.join('; ')}`).toEqual(EVERY_CHILD_COMPILES);
  });

  /**
   * TYPISTS clients type TYPED_LINES lines each, one per read in each child (the next goes
   * once the last has been heard), on a server started with --trace-opt; a listener hears
   * them. Returns the functions optimised meanwhile as many times as there are typists.
   */
  async function optimisedWhileTyping(server: RunningServer, typists: { say: (text: string) => void }[]): Promise<string[]> {
    const listener = await join(server);
    await pollUntil(() => childrenNamed(server.pid, CHILD_NAME).length === typists.length + 1, 5_000, 'a child per client');
    await listener.sync();
    const from = server.stdout().length; // the parent's start-up is not the children's
    const heard = listener.lineEnds;
    for (let n = 0; n < TYPED_LINES; n++) {
      for (const [i, typist] of typists.entries()) typist.say(`typist ${i} line ${n}`);
      await pollUntil(() => listener.lineEnds >= heard + typists.length * (n + 1), 5_000, `line ${n} from every typist`);
    }
    return [...optimisationsByFunction(server.stdout().slice(from))].filter(([, count]) => count >= typists.length).map(([key]) => key);
  }

  it('leaves nothing for V8 to optimise in every child of telnet clients typing a line at a time', async () => {
    const server = await startServer(['--rate-limit', '0'], {}, [], ['--trace-opt']);
    const typists = [];
    for (let i = 0; i < TYPISTS; i++) {
      const client = await join(server);
      typists.push({ say: (text: string) => client.send(`${text}\r\n`) });
    }
    const optimised = await optimisedWhileTyping(server, typists);
    expect(optimised, `optimised in every child: ${optimised.join('; ')}`).toEqual([]);
  }, 60_000);

  it('nor of web clients typing a line at a time', async () => {
    const server = await startServer(['--rate-limit', '0', '--web-port', '0'], {}, [], ['--trace-opt']);
    const typists = [];
    for (let i = 0; i < TYPISTS; i++) {
      const { ws } = await webClient(server);
      typists.push({ say: (text: string) => ws.send(text) });
    }
    const optimised = await optimisedWhileTyping(server, typists);
    expect(optimised, `optimised in every child: ${optimised.join('; ')}`).toEqual([]);
  }, 60_000);
});

describe("the parent's rehearsal before it listens", () => {
  /** Clients joining one by one, each saying a line, as in the bench's join step. */
  const JOINS = 150;
  /**
   * Functions on the path of a client joining that V8 optimised during the first real joins
   * before the rehearsal took newcomers in: each a 1-6 ms stall of the loop (under
   * --single-threaded V8 compiles on the main thread), and the join step's slowest joins.
   */
  const JOIN_PATH = ['onConnect', 'tell', 'notice', 'whoIsIn', 'handTo', 'flushDue', 'appendSmall', 'flushNow', 'enqueue', 'admit', 'join'];

  it('leaves nothing on the join path for V8 to optimise during the first joins', async () => {
    const server = await startServer(['--rate-limit', '0', '--max-per-ip', '0'], {}, [], ['--trace-opt']);
    const watcher = await join(server);
    const from = server.stdout().length; // what the rehearsal optimised is before this
    for (let i = 0; i < JOINS; i++) {
      const client = await join(server);
      client.send(`joiner ${i}\r\n`);
      await watcher.waitFor(`joiner ${i}\r\n`);
    }
    // Turbofan's compiles, the stalls: Node 22 and later also compile with Maglev, V8's
    // middle tier, made to compile in a fraction of Turbofan's time.
    const optimised = [...optimisationsByFunction(server.stdout().slice(from)).keys()];
    const onJoinPath = optimised.filter((key) => JOIN_PATH.includes(key.slice(0, key.indexOf(' '))) && / TURBOFAN/.test(key));
    expect(onJoinPath, `optimised after listening: ${optimised.join('; ')}`).toEqual([]);
  }, 120_000);

  /** The chat's part of what the parent runs for each line said in a room: names no child's code has. */
  const CHAT_LINE_PATH = ['onLine', 'handleLine', 'publicLine', 'stamp', 'minuteStamp', 'lineBody', 'saidBytes', 'remember', 'groupOf'];
  /** What the parent runs for each line said in a room. */
  const LINE_PATH = ['record', 'commit', 'send', 'flush', ...CHAT_LINE_PATH];
  /** Lines each speaker says: past the count where V8 compiled the line path on the loop when the rehearsal had left it out. */
  const SPOKEN_LINES = 150;

  it("keeps the line path's optimised code through the first lines said in a new room, and compiles none of it then", async () => {
    const server = await startServer(['--rate-limit', '0'], {}, [], ['--trace-deopt', '--trace-opt']);
    const speakers = [await join(server), await join(server), await join(server)];
    const watcher = await join(server);
    const from = server.stdout().length; // the rehearsal's deopts and compiles are before this
    for (let i = 0; i < SPOKEN_LINES; i++) for (const [n, speaker] of speakers.entries()) speaker.send(`line ${n}.${i}\r\n`);
    await watcher.waitFor(`line 2.${SPOKEN_LINES - 1}\r\n`);
    const trace = server.stdout().slice(from);
    // Turbofan's code thrown away, then compiled again on the loop's thread: the stalls (as
    // above, Node 24's Maglev code is left out).
    const turbofanIn = (path: string[]) => (key: string): boolean => path.includes(key.slice(0, key.indexOf(' '))) && / TURBOFAN/.test(key);
    const deoptimised = [...trace.matchAll(/deoptimizing 0x[0-9a-f]+ <JSFunction ([^ >]+) [^>]*>, 0x[0-9a-f]+ <Code ([A-Z_]+)>/g)].map((match) => `${match[1] ?? ''} ${match[2] ?? ''}`);
    expect(deoptimised.filter(turbofanIn(LINE_PATH)), `deoptimised after listening: ${deoptimised.join(', ')}`).toEqual([]);
    // Compiles are printed by every process: only the chat's names are surely the parent's
    // (a child has a flush() and a send() of its own).
    const optimised = [...optimisationsByFunction(trace).keys()];
    expect(optimised.filter(turbofanIn(CHAT_LINE_PATH)), `optimised after listening: ${optimised.join('; ')}`).toEqual([]);
  }, 60_000);
});
