/** Starts the real server as a separate process (never forking inside the test worker). */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollUntil } from './poll.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'posix-chat.cjs');

export interface RunningServer {
  proc: ChildProcess;
  pid: number;
  port: number;
  host: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  /**
   * Waits until the log (stderr) matches. The test reads the log and the clients' sockets
   * on separate pipes, in whatever order they come: what a client saw may be logged just
   * before it, yet read after; and a process's last words may come after its exit.
   */
  waitForLog(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  /** SIGKILLs the server if it still runs (its children follow by the parent-death signal). */
  kill(): void;
}

const running = new Set<RunningServer>();
/** Data directories made for servers that were not given one: removed by stopAllServers(). */
const madeDirs: string[] = [];

/** A fresh, empty data directory; removed by stopAllServers(). */
export function tempDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'posix-chat-data-'));
  madeDirs.push(dir);
  return dir;
}

/**
 * Runs bin/posix-chat.cjs with `node --single-threaded --use-largepages=silent`, as npm start does (behind `prefix`,
 * e.g. setpriv, when given; with `nodeFlags` for node besides); waits for "Listening on".
 */
export async function startServer(args: string[] = [], env: NodeJS.ProcessEnv = {}, prefix: string[] = [], nodeFlags: string[] = []): Promise<RunningServer> {
  // Each server its own database, unless the test gives one: no history or account leaks between tests.
  const ownData = args.some((arg) => arg.startsWith('--data-dir')) || env.POSIX_CHAT_DATA_DIR !== undefined ? [] : ['--data-dir', tempDataDir()];
  if (prefix.length > 0 && ownData[1] !== undefined) chmodSync(ownData[1], 0o777); // run as another user (setpriv): theirs too
  const command = [...prefix, process.execPath, '--single-threaded', '--use-largepages=silent', ...nodeFlags, BIN, '--port', '0', ...ownData, ...args];
  const proc = spawn(command[0] as string, command.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let ended = false;
  void exited.then(() => (ended = true));
  const server: RunningServer = {
    proc,
    pid: proc.pid ?? -1,
    port: 0,
    host: '127.0.0.1',
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLog: (pattern, timeoutMs = 5_000) =>
      pollUntil(() => (typeof pattern === 'string' ? err.includes(pattern) : pattern.test(err)), timeoutMs, `${String(pattern)} in the log (got ${JSON.stringify(err.slice(-500))})`),
    kill: () => {
      if (!ended) proc.kill('SIGKILL');
    },
  };
  running.add(server);
  await pollUntil(() => /Listening on .*:(\d+)\.\.\./.test(out) || ended, 30_000, 'the server to listen');
  const match = /Listening on (.*):(\d+)\.\.\./.exec(out);
  if (!match) throw new Error(`server did not start:\n${err}`);
  server.host = (match[1] as string).replace(/^\[|\]$/g, '');
  server.port = Number(match[2]);
  return server;
}

/** Kills every server a test started; call from afterEach. */
export async function stopAllServers(): Promise<void> {
  for (const server of running) {
    server.kill();
    await server.exited;
  }
  running.clear();
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
