import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil } from './helpers/poll.js';
import { childrenOf, isAlive } from './helpers/processes.js';
import { BIN, ROOT, startServer, stopAllServers } from './helpers/server.js';

afterEach(stopAllServers);

function cli(args: string[], env: NodeJS.ProcessEnv = {}, flags = ['--single-threaded']): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [...flags, BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 15_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('posix-chat command line', () => {
  it('--help lists every option with its default and variable, within 79 columns', () => {
    const { code, stdout } = cli(['--help']);
    expect(code).toBe(0);
    for (const option of ['--host ADDRESS', '--port N', '--max-line BYTES', '--history N', '--[no-]timestamps', '--motd FILE', '--[no-]classic', '--log-level LEVEL', '--user NAME']) {
      expect(stdout).toContain(option);
    }
    expect(stdout).toContain('default: 4444; env POSIX_CHAT_PORT');
    expect(stdout).toMatch(/Exit codes:/);
    expect(stdout).toMatch(/posix-chat\s+user\s+--help/);
    for (const line of stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(79);
  });

  it('user --help and audit --help print the admin commands and exit 0', () => {
    for (const args of [['user', '--help'], ['audit', '-h']]) {
      const { code, stdout, stderr } = cli(args);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage:\n {2}posix-chat user add NAME/);
      expect(stderr).toBe('');
    }
  });

  it('--version prints the package version', () => {
    expect(cli(['--version']).stdout).toMatch(/^posix-chat \d+\.\d+\.\d+\n$/);
  });

  it('names a bad option or value in one line and exits 2, before listening', () => {
    for (const [args, message] of [
      [['--bogus'], "unknown option '--bogus'"],
      [['--port', 'abc'], "--port: expected a whole number, got 'abc'"],
      [['--port', '70000'], '--port: must be between 0 and 65535, got 70000'],
      [['--host', 'example.com'], '--host: expected a numeric IPv4 or IPv6 address'],
      [['--motd', '/nonexistent/motd.txt'], '--motd: cannot read /nonexistent/motd.txt'],
    ] as const) {
      const { code, stdout, stderr } = cli([...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toContain(message);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stdout).toBe('');
    }
  });

  it('takes options from POSIX_CHAT_* variables, the command line winning', async () => {
    const refused = cli([], { POSIX_CHAT_PORT: 'nope' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("POSIX_CHAT_PORT: expected a whole number, got 'nope'");
    // startServer passes --port 0: it wins over the bad variable, while POSIX_CHAT_HOST is used.
    const server = await startServer([], { POSIX_CHAT_PORT: 'nope', POSIX_CHAT_HOST: '::1' });
    expect(server.stdout()).toMatch(/^Listening on \[::1\]:\d+\.\.\.\n$/);
  });

  it('says the port is in use in one line and exits 1', async () => {
    const server = await startServer();
    const { code, stderr } = cli(['--port', String(server.port)]);
    expect(code).toBe(1);
    expect(stderr).toBe(`posix-chat: cannot listen on 127.0.0.1:${server.port}: address already in use\n`);
  });

  it('leaves no data directory behind when it cannot start, and keeps one that was there', async () => {
    const server = await startServer();
    const scratch = mkdtempSync(path.join(tmpdir(), 'posix-chat-cli-'));
    try {
      const made = path.join(scratch, 'new', 'data');
      expect(cli(['--port', String(server.port), '--data-dir', made]).code).toBe(1);
      expect(existsSync(path.join(scratch, 'new'))).toBe(false);
      const kept = path.join(scratch, 'kept');
      mkdirSync(kept);
      expect(cli(['--port', String(server.port), '--data-dir', kept]).code).toBe(1);
      expect(existsSync(kept)).toBe(true);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('refuses to run without --single-threaded, saying why', () => {
    const { code, stderr } = cli(['--port', '0'], {}, []);
    expect(code).toBe(2);
    expect(stderr).toContain('--single-threaded');
  });

  it('listens on the address given with --host', async () => {
    const server = await startServer(['--host', '127.0.0.2']);
    expect(server.stdout()).toMatch(/^Listening on 127\.0\.0\.2:\d+\.\.\.\n$/);
  });

  it('under npm start, stops with npm: a SIGTERM to npm ends the server, which exits 0', async () => {
    const npm = spawn('npm', ['start', '--silent', '--', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
    let server: number | undefined;
    try {
      await pollUntil(() => out.includes('Listening on'), 20_000, 'npm start to listen');
      // npm runs the script with sh -c; `exec` makes node the shell's own process.
      [server] = childrenOf(npm.pid ?? -1);
      expect(server).toBeDefined();
      expect(programOf(server ?? -1)).toBe('node');
      npm.kill('SIGTERM');
      expect(await exited).toBe(0);
      await pollUntil(() => !isAlive(server ?? -1), 10_000, 'the server to end with npm');
    } finally {
      npm.kill('SIGKILL');
      if (server !== undefined && isAlive(server)) process.kill(server, 'SIGKILL');
    }
  });

  it('says before listening what --max-clients it derived, and warns when one given is more than the machine can serve', async () => {
    const derived = await startServer();
    await pollUntil(() => /at most \d+ clients at once \(set by [^)]+; --max-clients to change\)/.test(derived.stderr()), 5_000, 'the derived limit in the log');
    // A million clients: more than any test machine's descriptors, pids or memory allow.
    const tooMany = await startServer(['--max-clients', '1000000']);
    await pollUntil(() => /WARN .*--max-clients 1000000: this machine can serve about \d+ at once \(set by .+\)/.test(tooMany.stderr()), 5_000, 'the warning');
  });

  it('warns when net.core.somaxconn caps the --backlog asked for, and not when it does not', async () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    const capped = await startServer(['--backlog', '65535']);
    const fits = await startServer(['--backlog', String(Math.min(somaxconn, 65535))]);
    for (const server of [capped, fits]) await pollUntil(() => server.stdout().includes('Listening on'), 10_000, 'the server to listen');
    if (somaxconn < 65535) expect(capped.stderr()).toMatch(new RegExp(`WARN {2}--backlog 65535 is capped at ${somaxconn} by net.core.somaxconn: .*sysctl -w net.core.somaxconn=65535`));
    else expect(capped.stderr()).not.toMatch(/somaxconn/);
    expect(fits.stderr()).not.toMatch(/somaxconn/);
  });
});

/** argv[0] of a process: 'node' or 'sh'. (Not its comm, which Node 24 sets to MainThread.) */
function programOf(pid: number): string {
  return path.basename(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '');
}
