/**
 * Started as root, the server must name a user with --user and becomes it once listening,
 * before anything is forked: the zygote, spares and every client's child run as that user.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CHILD_OOM_SCORE_ADJ } from '../src/parent/children.js';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenOf } from './helpers/processes.js';
import { BIN, ROOT, startServer, stopAllServers } from './helpers/server.js';

afterEach(stopAllServers);

const isRoot = process.getuid?.() === 0;
const NOBODY_UID = 65534;
const NOT_ROOT = 'needs root (under CI it must run)';

/** The real, effective, saved and filesystem uids of `pid`, from /proc. */
function uids(pid: number): number[] {
  const line = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
  return line.split(/\s+/).map(Number);
}

describe('--user', () => {
  it.runIf(isRoot || process.env.CI !== undefined)('is required as root: the server refuses to start without it', () => {
    expect(isRoot, NOT_ROOT).toBe(true);
    const run = spawnSync(process.execPath, ['--single-threaded', BIN, '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, POSIX_CHAT_USER: '' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('posix-chat: running as root: give --user NAME');
    expect(run.stdout).not.toContain('Listening on');
  });

  it('refuses a user that does not exist, before serving anyone', () => {
    const run = spawnSync(process.execPath, ['--single-threaded', BIN, '--port', '0', '--user', 'no-such-user-here'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("--user: no such user 'no-such-user-here'");
  });

  it.runIf(isRoot || process.env.CI !== undefined)('drops root for nobody in the parent and in every process it forks', async () => {
    expect(isRoot, NOT_ROOT).toBe(true);
    const server = await startServer(['--user', 'nobody']);
    await server.waitForLog(/running as nobody \(uid 65534, gid \d+\)/);
    const alice = await TestClient.connect(server.port);
    const bob = await TestClient.connect(server.port);
    try {
      await bob.waitFor('Type /help');
      bob.send('hello as nobody\r\n');
      await alice.waitFor('hello as nobody');
      expect(uids(server.pid)).toEqual([NOBODY_UID, NOBODY_UID, NOBODY_UID, NOBODY_UID]);
      // The zygote, the spare and both clients' children are the parent's children.
      await pollUntil(() => childrenOf(server.pid).length >= 4, 5_000, 'the zygote, a spare and two children');
      for (const pid of childrenOf(server.pid)) {
        expect(uids(pid), `pid ${pid}`).toEqual([NOBODY_UID, NOBODY_UID, NOBODY_UID, NOBODY_UID]);
      }
      // Still able to manage its children's /proc files: dumpable again after the change.
      const scores = childrenOf(server.pid).map((pid) => Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8')));
      expect(scores).toContain(CHILD_OOM_SCORE_ADJ);
    } finally {
      alice.close();
      bob.close();
    }
  });
});
