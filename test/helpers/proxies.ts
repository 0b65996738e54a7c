/**
 * Real proxies in front of the server: HAProxy and stunnel (Debian's packages, which
 * .ci/run installs), each on free loopback ports with a configuration written for
 * the test, and a self-signed certificate made with openssl.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { pollUntil } from './poll.js';
import { ROOT } from './server.js';

/** Whether `command` runs here; under CI a missing tool is a failure, not a skip. */
export function haveTool(command: string, args: string[], debianPackage: string): boolean {
  const found = spawnSync(command, args, { stdio: 'ignore' }).status === 0;
  if (!found && process.env.CI === 'true') throw new Error(`${command} is missing: .ci/run installs the Debian package ${debianPackage}`);
  return found;
}

/**
 * An example configuration from examples/tls/ with its production values (ports, paths)
 * replaced by the test's; each must be there, so the example and the test cannot drift apart.
 */
export function fromExample(name: string, replacements: [string, string][]): string {
  let text = readFileSync(path.join(ROOT, 'examples', 'tls', name), 'utf8');
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`examples/tls/${name} no longer contains '${from}'`);
    text = text.split(from).join(to);
  }
  return text;
}

/** A temporary folder, with a self-signed certificate for localhost in it. */
export interface Workspace {
  dir: string;
  cert: string;
  key: string;
  /** Certificate and key in one file, as HAProxy's `crt` takes them. */
  combined: string;
  remove(): void;
}

export function makeWorkspace(): Workspace {
  const dir = mkdtempSync(path.join(tmpdir(), 'posix-chat-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  const combined = path.join(dir, 'combined.pem');
  writeFileSync(combined, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return { dir, cert, key, combined, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunningProxy {
  output: () => string;
  stop(): Promise<void>;
}

/**
 * Starts `command` with `config` written to `file`, and waits until every port in `ports`
 * is listening: looked up in /proc/net/tcp, not by connecting, which the proxy would pass
 * on to the server as a client.
 */
export async function startProxy(command: string, args: (file: string) => string[], file: string, config: string, ports: number[]): Promise<RunningProxy> {
  writeFileSync(file, config);
  const proc: ChildProcess = spawn(command, args(file), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const state = { ended: false };
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      state.ended = true;
      resolve();
    }),
  );
  await pollUntil(() => state.ended || ports.every(isListening), 10_000, `${command} to listen on ${ports.join(', ')}`);
  if (state.ended) throw new Error(`${command} exited at start:\n${output}`);
  return {
    output: () => output,
    stop: async () => {
      if (!state.ended) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Whether some socket listens on 127.0.0.1:`port` (state 0A in /proc/net/tcp). */
function isListening(port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && fields[3] === '0A';
    });
}

/** A TLS chat client from `localAddress`, trusting the test's certificate. */
export class TlsClient {
  text = '';
  closed = false;

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => (this.text += chunk.toString('latin1')));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static connect(port: number, ca: string, localAddress: string): Promise<TlsClient> {
    return new Promise((resolve, reject) => {
      const tcp = net.connect({ port, host: '127.0.0.1', localAddress });
      const socket = tls.connect({ socket: tcp, ca: readFileSync(ca), servername: 'localhost' });
      socket.once('secureConnect', () => resolve(new TlsClient(socket)));
      socket.once('error', reject);
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async waitFor(pattern: string | RegExp, timeoutMs = 5_000): Promise<void> {
    const test = (): boolean => (typeof pattern === 'string' ? this.text.includes(pattern) : pattern.test(this.text));
    await pollUntil(test, timeoutMs, `${String(pattern)} over TLS (got ${JSON.stringify(this.text.slice(-300))})`);
  }

  close(): void {
    this.socket.destroy();
  }
}
