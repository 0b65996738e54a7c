/** Starts a server (posix-chat or a node:net peer) as a child process and waits for its port. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Started {
  proc: ChildProcess;
  pid: number;
  port: number;
  stderr: () => string;
  stop(): Promise<void>;
}

export async function startProcess(command: string, args: string[], timeoutMs = 10_000): Promise<Started> {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  let match: RegExpExecArray | null;
  while ((match = /Listening on .*:(\d+)\.\.\./.exec(out)) === null) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      throw new Error(`${command} did not start: ${err}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    proc,
    pid: proc.pid ?? -1,
    port: Number(match[1]),
    stderr: () => err,
    stop: async () => {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Started as root, the server wants --user: the bench keeps root, as the node:net peers
 * do. An option that differs from the defaults: run.ts lists it with the others.
 */
export const KEEP_ROOT = process.getuid?.() === 0 ? ['--user', 'root'] : [];

/** Our server, as `npm start` runs it, with the given options. */
export function startPosixChat(root: string, args: string[], timeoutMs?: number): Promise<Started> {
  return startProcess(process.execPath, ['--single-threaded', '--use-largepages=silent', `${root}/bin/posix-chat.cjs`, '--port', '0', ...KEEP_ROOT, ...args], timeoutMs);
}
