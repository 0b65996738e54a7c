/**
 * Scheduler slices (src/scheduling.ts): the addon's setSchedulerSlice(), and which of the
 * server's processes ask for a short one. Linux 6.12 and later take a slice for the fair
 * scheduler and show it in /proc/PID/sched; the machines CI runs on do.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SPARE_NAME } from '../src/child/spare.js';
import { native } from '../src/posix/binding.js';
import { HASHER_NAME } from '../src/hasher/protocol.js';
import { SERVING_SLICE_NS } from '../src/scheduling.js';
import { ZYGOTE_NAME } from '../src/zygote/zygote-process.js';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed, clientChildrenOf } from './helpers/processes.js';
import { ROOT, startServer, stopAllServers } from './helpers/server.js';

/** A process's slice as the kernel shows it (ns), or null where it shows none. */
function slice(pid: number | 'self'): number | null {
  const match = /^se\.slice\s+:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/sched`, 'utf8'));
  return match === null ? null : Number(match[1]);
}

const [major = 0, minor = 0] = readFileSync('/proc/sys/kernel/osrelease', 'utf8').split('.').map(Number);
const takesSlices = (major > 6 || (major === 6 && minor >= 12)) && slice('self') !== null;
const inCI = process.env.CI === 'true';
const why = takesSlices ? '' : ' (skipped: this kernel takes no slice for the fair scheduler; Linux 6.12 does)';

/** What the scripts below start with: the addon, and a field of this thread's /proc/thread-self/sched (NaN when absent). */
const PRELUDE = `
  const posix = require(${JSON.stringify(`${ROOT}/build/Release/posix.node`)});
  const field = (name) => Number(require('fs').readFileSync('/proc/thread-self/sched', 'utf8').split('\\n').find((line) => line.startsWith(name + ' '))?.split(':')[1] ?? NaN);`;

const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stopAllServers();
});

describe('setSchedulerSlice()', () => {
  // In a process of its own, run as nobody: the test worker keeps its slice, and no privilege is needed.
  it.skipIf(!takesSlices && !inCI)(`sets this thread's slice without privilege, and 0 gives the default back${why}`, () => {
    const script = `${PRELUDE}
      const before = field('se.slice');
      const short = posix.setSchedulerSlice(100000);
      const shownShort = field('se.slice');
      const back = posix.setSchedulerSlice(0);
      console.log(JSON.stringify([before, short, shownShort, back, field('se.slice')]));`;
    const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    const command = [...asNobody, process.execPath, '-e', script];
    const run = spawnSync(command[0] as string, command.slice(1), { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const [before, short, shownShort, back, shownBack] = JSON.parse(run.stdout) as number[];
    expect([short, shownShort]).toEqual([100_000, 100_000]);
    expect(before).not.toBe(100_000);
    expect([back, shownBack]).toEqual([before, before]);
  });

  it.skipIf(!takesSlices && !inCI)(`keeps a batch policy, and leaves an idle one alone${why}`, () => {
    const script = `${PRELUDE}
      const before = field('se.slice');
      const got = posix.setSchedulerSlice(100000);
      console.log(JSON.stringify([field('policy'), before, got, field('se.slice')]));`;
    const under = (policy: string): number[] => {
      const run = spawnSync('chrt', [policy, '0', process.execPath, '-e', script], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      return JSON.parse(run.stdout) as number[];
    };
    // SCHED_BATCH is 3, SCHED_IDLE 5 (linux/sched.h).
    expect(under('--batch')).toEqual([3, expect.any(Number), 100_000, 100_000]);
    // Still idle (5), not turned into SCHED_OTHER; the kernel shows no slice for an idle thread.
    expect(under('--idle')).toEqual([5, null, expect.any(Number), null]); // (JSON has no NaN)
  });

  it('refuses what is not a number of nanoseconds up to a second', () => {
    expect(() => native.setSchedulerSlice('1' as unknown as number)).toThrow(new TypeError('slice must be a number of nanoseconds'));
    expect(() => native.setSchedulerSlice(-1)).toThrow(new TypeError('slice must be between 0 and 1e9 nanoseconds'));
    expect(() => native.setSchedulerSlice(2e9)).toThrow(new TypeError('slice must be between 0 and 1e9 nanoseconds'));
  });
});

/** A process's nice value (field 19 of /proc/PID/stat, counted after the name's closing parenthesis). */
function nice(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

const isRoot = process.getuid?.() === 0;
const OTHER_UID = 65529; // not nobody: other suites count nobody's threads
const asOther = ['setpriv', `--reuid=${OTHER_UID}`, `--regid=${OTHER_UID}`, '--clear-groups'];

/** The server's processes once a client is served: the parent, the client's child, a waiting spare, the zygote, the hasher. */
async function serverProcesses(args: string[] = [], env: NodeJS.ProcessEnv = {}, prefix: string[] = []): Promise<Record<'parent' | 'child' | 'spare' | 'zygote' | 'hasher', number> & { log: () => string }> {
  const server = await startServer(args, env, prefix);
  const client = await TestClient.connect(server.port);
  clients.push(client);
  await client.waitFor('Type /help');
  let child = 0;
  await pollUntil(() => (child = clientChildrenOf(server.pid)[0] ?? 0) !== 0, 5_000, "the client's child");
  let spare = 0;
  await pollUntil(() => (spare = childrenNamed(server.pid, SPARE_NAME)[0] ?? 0) !== 0, 5_000, 'a spare');
  const zygote = childrenNamed(server.pid, ZYGOTE_NAME)[0] ?? 0;
  const hasher = childrenNamed(server.pid, HASHER_NAME)[0] ?? 0;
  expect(zygote).not.toBe(0);
  expect(hasher).not.toBe(0);
  return { parent: server.pid, child, spare, zygote, hasher, log: server.stderr };
}

describe("the server's priorities and slices", () => {
  const base = nice(process.pid); // what the servers below start with
  const standard = slice('self'); // this worker's: the kernel's default

  it.skipIf(!isRoot && !inCI)(`run the parent --priority-boost levels above every process it starts, with the default slice, and each child serving a client with a short one${isRoot ? '' : ' (skipped: raising a priority needs root)'}`, async () => {
    const p = await serverProcesses();
    expect(nice(p.parent)).toBe(Math.max(-20, base - 10));
    expect(p.log()).toContain(`INFO  the parent runs at nice ${Math.max(-20, base - 10)}, 10 above the processes it starts`);
    for (const pid of [p.child, p.spare, p.zygote, p.hasher]) expect(nice(pid)).toBe(base);
    if (!takesSlices && !inCI) return;
    expect(standard).not.toBe(SERVING_SLICE_NS);
    expect(slice(p.parent)).toBe(standard);
    expect(slice(p.child)).toBe(SERVING_SLICE_NS);
    expect(slice(p.zygote)).toBe(standard);
    expect(slice(p.spare)).toBe(standard);
  });

  it.skipIf(!takesSlices && !inCI)(`give the parent a short slice instead with --priority-boost 0${why}`, async () => {
    const { log, ...p } = await serverProcesses(['--priority-boost', '0']);
    expect(log()).not.toContain('the parent runs at');
    for (const pid of Object.values(p)) expect(nice(pid)).toBe(base);
    expect(slice(p.parent)).toBe(SERVING_SLICE_NS);
    expect(slice(p.child)).toBe(SERVING_SLICE_NS);
    expect(slice(p.zygote)).toBe(standard);
  });

  // As root: a server started as another user (setpriv), which may not raise a priority; else this user.
  it('give the parent a short slice where the system refuses it a higher priority', async () => {
    const { log, ...p } = await serverProcesses(['--log-level', 'debug'], isRoot ? { POSIX_CHAT_USER: '' } : {}, isRoot ? asOther : []);
    expect(log()).toContain('DEBUG the parent runs at the priority it was started with (a higher one needs root or CAP_SYS_NICE)');
    for (const pid of Object.values(p)) expect(nice(pid)).toBe(base);
    if (takesSlices) expect(slice(p.parent)).toBe(SERVING_SLICE_NS);
  });
});
