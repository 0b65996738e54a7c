/** A real redis-server on a free loopback port, for the cluster tests. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pollUntil } from './poll.js';
import { freePort } from './ports.js';

/** Whether redis-server is installed (.ci/run installs Debian's; under CI its absence is a failure). */
export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;

export interface RunningRedis {
  port: number;
  url: string;
  /** A client for the test's own commands (CLIENT KILL, inspection). */
  admin: Redis;
  /** Stops the server (SHUTDOWN, which writes the append-only file) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it for good and removes its directory. */
  destroy(): Promise<void>;
}

export interface RedisOptions {
  /** More redis-server arguments (--requirepass, --tls-port ...). */
  args?: string[];
  /** The default user's password, for the admin client (with --requirepass). */
  password?: string;
}

export async function startRedis(options: RedisOptions = {}): Promise<RunningRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'posix-chat-redis-'));
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const admin = new Redis({ port, host: '127.0.0.1', password: options.password, lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: () => 100 });
  admin.on('error', () => {});

  const start = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--protected-mode', 'no', ...(options.args ?? [])];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    proc = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    if (admin.status === 'wait') await admin.connect().catch(() => {});
    await pollUntil(() => admin.status === 'ready', 10_000, `redis-server on port ${port}`);
    await admin.ping();
  };
  const stop = async (): Promise<void> => {
    if (proc === null) return;
    proc.kill('SIGTERM'); // redis-server shuts down cleanly on SIGTERM, writing its append-only file
    await exited;
    proc = null;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    admin,
    start,
    stop,
    destroy: async () => {
      admin.disconnect();
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
