/**
 * The storm and scale steps. Storm: a crowd connects at once while two others chat.
 * Scale (`npm run bench -- --scale N`): N clients connect at once while two others chat;
 * then one line goes to all N - 1 others; then the server's memory per idle client. The
 * two chatting are a process of their own in both (scale-chat.ts). Every client of the
 * crowd is a socket of this process, each from a source address in 127.0.0.0/8 (`open()`
 * in load.ts), so neither the per-address limit nor one address's ports run short.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { now, open } from './load.js';
import type { ChatCommand, ChatMessage } from './scale-chat.js';
import { treePids } from './tree-cpu.js';

export interface ScaleResult {
  clients: number;
  /** Clients served (see runScale()) before the deadline. */
  served: number;
  /** From the first connect() to the last client's first byte; Infinity if not all were served. */
  allServedMs: number;
  /** Latencies of the lines the two exchanged meanwhile; Infinity for each lost. */
  chatMs: number[];
  /** From the line sent to the last of the others served having it; Infinity if one never did. */
  fanoutMs: number;
  /** How many of the others had the line. */
  fanoutReached: number;
  /** PSS of the server's whole tree per client served, over its PSS with the two chatting only. */
  pssPerClientMiB: number;
}

/** Descriptors this process needs besides one per client. */
const SPARE_DESCRIPTORS = 256;
const FANOUT_MARK = Buffer.from('~FANOUT~', 'latin1');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The longest the two chatting may take to answer: to be served, or with their latencies. */
const CHAT_ANSWER_MS = 30_000;
/** At scale the two chat in the room everyone is in: each line goes to every client, so not faster than this. */
const SCALE_CHAT_EVERY_MS = 100;

/** Forks the two who chat (scale-chat.ts) a line every `everyMs`, and waits until both have been served for `settleMs`. */
async function startChat(port: number, everyMs: number, settleMs: number): Promise<ChildProcess> {
  const args = [port, everyMs, settleMs].map(String);
  const chat = fork(new URL('./scale-chat.js', import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await answer(chat, 'ready');
  return chat;
}

/** Stops the two chatting: each line's latency in ms, Infinity for one never seen. */
async function stopChat(chat: ChildProcess): Promise<number[]> {
  const latencies = answer(chat, 'latencies');
  chat.send('stop' satisfies ChatCommand);
  const message = await latencies;
  return message.kind === 'latencies' ? message.ms.map((ms) => ms ?? Infinity) : [];
}

/** The next message of `kind` from the two chatting; rejects if they exit or say nothing in time. */
function answer(chat: ChildProcess, kind: ChatMessage['kind']): Promise<ChatMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`the two chatting sent no '${kind}' within ${CHAT_ANSWER_MS / 1000} s`)), CHAT_ANSWER_MS);
    const onMessage = (message: ChatMessage): void => {
      if (message.kind !== kind) return;
      done();
      resolve(message);
    };
    const onExit = (code: number | null): void => fail(new Error(`the two chatting exited (code ${code}) before '${kind}'`));
    const done = (): void => {
      clearTimeout(timer);
      chat.off('message', onMessage);
      chat.off('exit', onExit);
    };
    const fail = (error: Error): void => {
      done();
      chat.kill();
      reject(error);
    };
    chat.on('message', onMessage);
    chat.once('exit', onExit);
  });
}

/**
 * The storm step: `count` clients connect at once while two others, connected before,
 * chat a line every `everyMs` (timed in a process of their own, scale-chat.ts) for
 * `windowMs`. Each line's latency in ms, Infinity for one never seen.
 */
export async function runStorm(port: number, count: number, everyMs: number, windowMs: number): Promise<number[]> {
  const chat = await startChat(port, everyMs, 500);
  chat.send('start' satisfies ChatCommand);
  const crowd: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = open(port);
    socket.on('error', () => {});
    crowd.push(socket);
  }
  await sleep(windowMs);
  const latencies = await stopChat(chat); // it gives the last lines a second
  for (const socket of crowd) socket.destroy();
  return latencies;
}

/** Raises this process's descriptor limit to fit `clients` sockets (`prlimit` on itself: Node has no setrlimit). */
export function raiseOwnFileLimit(clients: number): void {
  const needed = clients + SPARE_DESCRIPTORS;
  const text = readFileSync('/proc/self/limits', 'utf8');
  const match = /^Max open files\s+(\d+)\s+(\d+|unlimited)/m.exec(text);
  const soft = Number(match?.[1]);
  if (soft >= needed) return;
  const hard = match?.[2] === 'unlimited' ? needed : Math.max(needed, Number(match?.[2]));
  // Above the hard limit only root may go; prlimit then says so.
  execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${hard}`]);
}

/** PSS of the server and every process under it, in KiB (smaps_rollup). */
export function treePssKiB(root: number): number {
  let sum = 0;
  for (const { pid } of treePids(root)) {
    try {
      sum += Number(/^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

/**
 * @param welcomes whether the server greets a newcomer: then a client is served at its
 *   first byte (posix-chat greets once the client's own process runs); else (the bare
 *   relay) once connected.
 */
export async function runScale(port: number, serverPid: number, clients: number, welcomes: boolean, timeoutMs: number, progress: (text: string) => void, beforeLeaving: () => void = () => {}): Promise<ScaleResult> {
  const chat = await startChat(port, SCALE_CHAT_EVERY_MS, 1_000);
  const pssBefore = treePssKiB(serverPid);
  chat.send('start' satisfies ChatCommand);

  const crowd: net.Socket[] = [];
  let served = 0;
  let lastServed = 0;
  /** Clients whose connection failed before they were served, and why. */
  let failed = 0;
  const failures = new Map<string, number>();
  let fanoutReached = 0;
  let lastFanout = 0;
  const firstConnect = now();
  for (let i = 0; i < clients; i++) {
    const socket = open(port);
    let welcomed = false;
    const welcome = (): void => {
      if (welcomed) return;
      welcomed = true;
      served++;
      lastServed = now();
    };
    let tail: Buffer = Buffer.alloc(0);
    let hasFanout = false;
    if (!welcomes) socket.once('connect', welcome);
    socket.on('data', (chunk: Buffer) => {
      welcome();
      if (hasFanout) return;
      const data = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
      if (data.includes(FANOUT_MARK)) {
        hasFanout = true;
        fanoutReached++;
        lastFanout = now();
      }
      tail = Buffer.from(data.subarray(Math.max(0, data.length - FANOUT_MARK.length)));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (welcomed) return;
      failed++;
      failures.set(error.code ?? error.message, (failures.get(error.code ?? error.message) ?? 0) + 1);
    });
    crowd.push(socket);
  }
  const deadline = Date.now() + timeoutMs;
  let reported = Date.now();
  while (served + failed < clients && Date.now() < deadline) {
    await sleep(50);
    if (Date.now() - reported >= 10_000) {
      reported = Date.now();
      progress(`${served} of ${clients} served, ${failed} failed, after ${((now() - firstConnect) / 1000).toFixed(0)} s`);
    }
  }
  const allServedMs = served === clients ? lastServed - firstConnect : Infinity;
  if (failed > 0) progress(`${failed} connections failed: ${[...failures].map(([why, n]) => `${n} ${why}`).join(', ')}`);
  const chatMs = await stopChat(chat); // it gives the last lines a second; the crowd settles meanwhile

  const sentAt = now();
  crowd[0]?.write(`${FANOUT_MARK.toString('latin1')}\r\n`);
  const fanoutDeadline = Date.now() + 30_000;
  // The others served: a client whose connection failed cannot have it.
  while (fanoutReached < served - 1 && Date.now() < fanoutDeadline) await sleep(5);
  const fanoutMs = fanoutReached >= served - 1 ? lastFanout - sentAt : Infinity;
  await sleep(500);
  // Per client served: one still in the kernel's backlog has no process and no memory here yet.
  const pssPerClientMiB = (treePssKiB(serverPid) - pssBefore) / served / 1024;
  beforeLeaving(); // while every client, and for posix-chat every child, is still there
  for (const socket of crowd) socket.destroy();
  return { clients, served, allServedMs, chatMs, fanoutMs, fanoutReached, pssPerClientMiB };
}
