/**
 * Descriptor leaks under overload: the parent must hold no more descriptors after a run
 * of failed attempts than before it. Runs the real server in its own process (nothing
 * forks in the test worker) and counts its descriptors in /proc/PID/fd.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { HASHER_NAME } from '../src/hasher/protocol.js';
import { ZYGOTE_NAME } from '../src/zygote/zygote-process.js';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed, childrenOf, isAlive, processName, processState } from './helpers/processes.js';
import { BIN, startServer, stopAllServers } from './helpers/server.js';

const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stopAllServers();
});

const inCI = process.env.CI === 'true';
const isRoot = process.getuid?.() === 0;
/**
 * As root the process limit does not apply: run the server as another user. Not nobody:
 * test/robustness.test.ts counts nobody's threads while it runs, and may run meanwhile.
 */
const OTHER_UID = 65531;
const asOther = ['setpriv', `--reuid=${OTHER_UID}`, `--regid=${OTHER_UID}`, '--clear-groups'];
const prefix = isRoot ? asOther : [];
const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const missing = [...(isRoot ? ['setpriv'] : []), 'prlimit'].filter((tool) => !has(tool));
const canRunAsOther =
  !isRoot || (missing.length === 0 && spawnSync(asOther[0] as string, [...asOther.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(BIN)})`]).status === 0);
const why =
  missing.length > 0
    ? `missing ${missing.join(' and ')} (util-linux)`
    : canRunAsOther
      ? ''
      : `uid ${OTHER_UID} cannot read ${BIN} (the checkout must be readable by others)`;

function descriptorCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe('the zygote under a process limit', () => {
  if (why !== '' && inCI) {
    it('can run the server under a process limit (required under CI)', () => {
      throw new Error(`cannot test the zygote's fork failure: ${why}`);
    });
    return;
  }

  it.skipIf(why !== '')(
    `leaks no descriptor when each connection's new zygote cannot be forked (EAGAIN)${why === '' ? '' : ` (skipped: ${why})`}`,
    async () => {
      // Run as another user, it has no user to become (the suite's POSIX_CHAT_USER=root is for root).
      const server = await startServer(['--max-per-ip', '0', '--rate-limit', '0'], isRoot ? { POSIX_CHAT_USER: '' } : {}, prefix);
      let zygote = 0;
      await pollUntil(() => (zygote = childrenNamed(server.pid, ZYGOTE_NAME)[0] ?? 0) !== 0, 10_000, 'the zygote');
      // From now on no fork of the server's can succeed: RLIMIT_NPROC 1, and its user already runs it.
      // Set as that user: lowering a limit needs no privilege, but changing another user's
      // process does (CAP_SYS_RESOURCE, which a container's root may lack).
      const command = [...prefix, 'prlimit', '--pid', String(server.pid), '--nproc=1:1'];
      const limited = spawnSync(command[0] as string, command.slice(1), { encoding: 'utf8' });
      expect(limited.status, limited.stderr).toBe(0);
      // Without its zygote the server starts a new one at the next connection: a socketpair,
      // then fork(), which fails. Wait until the zygote and its spare are gone and reaped.
      process.kill(zygote, 'SIGKILL');
      // (The password hasher, started at start, stays.)
      const reaped = (): boolean => childrenOf(server.pid).every((pid) => processName(pid) === HASHER_NAME);
      await pollUntil(() => processState(zygote) === null && reaped(), 10_000, 'the zygote and its spare to be reaped');
      const before = descriptorCount(server.pid);

      const ATTEMPTS = 12;
      const counts: number[] = [];
      for (let i = 0; i < ATTEMPTS; i++) {
        const client = await TestClient.connect(server.port);
        clients.push(client);
        await client.waitFor('The server is busy; try again later.', 10_000);
        await client.waitForClose(10_000);
        counts.push(descriptorCount(server.pid));
      }
      // Every attempt went through the zygote's start and failed there (the log line may
      // reach us after the client's close: it comes through another pipe).
      const failures = (): number => server.stderr().match(/fork failed for .*EAGAIN/g)?.length ?? 0;
      await pollUntil(() => failures() >= ATTEMPTS, 10_000, `${ATTEMPTS} fork failures in the log:\n${server.stderr()}`);
      expect(failures()).toBe(ATTEMPTS);
      expect(isAlive(server.pid)).toBe(true);
      // Two descriptors an attempt leaked before (the socketpair): now none.
      expect(counts, `descriptors before: ${before}`).toEqual(counts.map(() => before));
    },
    90_000,
  );
});
