/**
 * Cluster mode against a Redis that asks who is there, as managed Redis does: a
 * password (requirepass), an ACL user, TLS (rediss://). The URL comes from the
 * environment, a file or the command line (with a warning); the password shows in
 * no log line. A real redis-server per test; the TLS certificate is made by openssl.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterFixture } from './helpers/cluster.js';
import { freePort } from './helpers/ports.js';
import { HAVE_REDIS, startRedis, type RunningRedis } from './helpers/redis.js';
import { BIN, stopAllServers, type RunningServer } from './helpers/server.js';

const HAVE_OPENSSL = spawnSync('openssl', ['version']).status === 0;
if (process.env.CI === 'true' && !(HAVE_REDIS && HAVE_OPENSSL)) throw new Error('redis-server or openssl is missing: .ci/run installs both');

const PASSWORD = 'pw-3f9a-do-not-log';
const cluster = new ClusterFixture();
let redis: RunningRedis | null = null;
let dir = '';
afterEach(async (context) => {
  cluster.end(context.task.result?.state === 'fail');
  await stopAllServers();
  await redis?.destroy();
  redis = null;
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function tempDir(): string {
  dir = mkdtempSync(path.join(tmpdir(), 'posix-chat-auth-'));
  return dir;
}

/** Two servers, one person on each: they hear each other, in public and in private. */
async function chatAcross(alpha: RunningServer, beta: RunningServer): Promise<void> {
  const alice = await cluster.person(alpha, 'alice');
  const bob = await cluster.person(beta, 'bob');
  await alice.waitFor('*** bob joined #lobby', 10_000);
  alice.send('hello over there\r\n');
  await bob.waitFor('<alice> hello over there', 10_000);
  bob.send('/msg alice psst\r\n');
  await alice.waitFor('*bob* psst', 10_000);
}

/** Everything a server printed, which must never hold the password. */
const printed = (server: RunningServer): string => server.stdout() + server.stderr();

/** A server run to its exit (it cannot start): its code and what it printed. */
function runToExit(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; output: string } {
  const run = spawnSync(process.execPath, ['--single-threaded', BIN, '--port', '0', ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
  return { code: run.status, output: run.stdout + run.stderr };
}

describe.skipIf(!HAVE_REDIS)('cluster: Redis with a password, an ACL user, TLS', () => {
  it('takes the password from the environment or a file, warns when it is on the command line, and logs it nowhere', { timeout: 90_000 }, async () => {
    redis = await startRedis({ args: ['--requirepass', PASSWORD], password: PASSWORD });
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
    const file = path.join(tempDir(), 'redis-url');
    writeFileSync(file, `${url}\n`, { mode: 0o600 });
    const alpha = await cluster.server(null, 'alpha', [], { POSIX_CHAT_REDIS: url });
    const beta = await cluster.server(null, 'beta', ['--redis-url-file', file]);
    await chatAcross(alpha, beta);
    const gamma = await cluster.server(url, 'gamma');
    await gamma.waitForLog(/WARN +the Redis password is on the command line, where ps shows it/);
    for (const server of [alpha, beta]) expect(server.stderr()).not.toMatch(/password is on the command line/);
    for (const server of [alpha, beta, gamma]) {
      expect(printed(server)).toMatch(new RegExp(`redis link: connected to redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} as `));
      expect(printed(server)).not.toContain(PASSWORD);
    }

    const wrong = runToExit(['--redis', `redis://:wrong-${PASSWORD}@127.0.0.1:${redis.port}`]);
    expect(wrong.code).toBe(1);
    expect(wrong.output).toMatch(/posix-chat: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: WRONGPASS/);
    expect(wrong.output).not.toContain(PASSWORD);
    const both = runToExit(['--redis-url-file', file], { POSIX_CHAT_REDIS: url });
    expect(both).toEqual({ code: 2, output: 'posix-chat: give the Redis URL once: --redis (or POSIX_CHAT_REDIS), or --redis-url-file\n' });
  });

  it('connects as a Redis ACL user limited to the posix-chat: keys', { timeout: 60_000 }, async () => {
    redis = await startRedis();
    // What docs/cluster.md tells an operator to grant.
    await redis.admin.call('ACL', 'SETUSER', 'chat', 'on', `>${PASSWORD}`, '~posix-chat:*', 'resetchannels', '+@all', '-@dangerous', '+info');
    const url = `redis://chat:${PASSWORD}@127.0.0.1:${redis.port}`;
    const alpha = await cluster.server(null, 'alpha', [], { POSIX_CHAT_REDIS: url });
    const beta = await cluster.server(null, 'beta', [], { POSIX_CHAT_REDIS: url });
    await chatAcross(alpha, beta);
    for (const server of [alpha, beta]) {
      expect(printed(server)).toMatch(/redis link: connected to redis:\/\/chat:\*\*\*@/);
      expect(printed(server)).not.toContain(PASSWORD);
      expect(server.stderr()).not.toMatch(/NOPERM|Redis said/);
    }
  });

  it.skipIf(!HAVE_OPENSSL)('speaks TLS to a rediss:// URL, trusting the CA given with --redis-ca, and nothing else', { timeout: 90_000 }, async () => {
    const certs = tempDir();
    const cert = path.join(certs, 'cert.pem');
    const key = path.join(certs, 'key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const tlsPort = await freePort();
    redis = await startRedis({
      args: ['--tls-port', String(tlsPort), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no', '--requirepass', PASSWORD],
      password: PASSWORD,
    });
    const url = `rediss://:${PASSWORD}@127.0.0.1:${tlsPort}`;
    const alpha = await cluster.server(null, 'alpha', ['--redis-ca', cert], { POSIX_CHAT_REDIS: url });
    const beta = await cluster.server(null, 'beta', [], { POSIX_CHAT_REDIS: url, POSIX_CHAT_REDIS_CA: cert });
    await chatAcross(alpha, beta);
    for (const server of [alpha, beta]) {
      expect(printed(server)).toMatch(new RegExp(`redis link: connected to rediss://:\\*\\*\\*@127\\.0\\.0\\.1:${tlsPort} as `));
      expect(printed(server)).not.toContain(PASSWORD);
    }
    // The certificate is checked: without the CA, a self-signed one is refused.
    const untrusted = runToExit([], { POSIX_CHAT_REDIS: url });
    expect(untrusted.code).toBe(1);
    expect(untrusted.output).toMatch(/cannot reach Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+: self-signed certificate/);
    expect(untrusted.output).not.toContain(PASSWORD);
    expect(runToExit(['--redis-ca', cert], { POSIX_CHAT_REDIS: `redis://127.0.0.1:${redis.port}` })).toEqual({
      code: 2,
      output: 'posix-chat: --redis-ca: only a rediss:// URL (Redis over TLS) uses it\n',
    });
  });
});
