/**
 * ProgramProcess: a helper program's process over its restarts (the Redis link, the
 * password hasher). The process itself is started by startProgram(), replaced here by a
 * stand-in that hands out pids: no fork in the test worker. What they do when one really
 * dies is in hasher.test.ts and cluster.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

let nextPid = 1000;
vi.mock('../../src/child/start-program.js', () => ({ startProgram: () => ({ pid: ++nextPid, inputFd: -1 }) }));

const { ProgramProcess, STABLE_MS } = await import('../../src/child/program-process.js');

const SETTINGS = { name: 'posix-test', script: '/nowhere.js', what: 'the test program', env: () => ({}), restartFirstMs: 100, restartMaxMs: 500 };

function started(): InstanceType<typeof ProgramProcess> {
  const program = new ProgramProcess(SETTINGS);
  const tracked: number[] = [];
  program.begin(-1, (pid) => tracked.push(pid));
  expect(tracked).toEqual([program.pid]);
  return program;
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(0);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ProgramProcess', () => {
  it('is starting until its own process says it is ready', () => {
    const program = started();
    expect(program.starting).toBe(true);
    expect(program.ready(program.pid + 1)).toBe(false);
    expect(program.starting).toBe(true);
    expect(program.ready(program.pid)).toBe(true);
    expect(program.state).toBe('ready');
  });

  it('is not restarted when it dies before it was ever ready: the server does not start', () => {
    const program = started();
    expect(program.exited({ pid: program.pid, code: 1, signal: null })).toBe('code 1');
    expect(program.down()).toBeNull();
    expect(program.restartDue(Date.now() + 60_000)).toBe(false);
  });

  it('waits twice as long before each restart, up to the most, and from the first again once one stayed up', () => {
    const program = started();
    const delays: (number | null)[] = [];
    for (let i = 0; i < 5; i++) {
      program.ready(program.pid);
      delays.push(program.down());
      expect(program.restartDue(Date.now())).toBe(false);
      vi.advanceTimersByTime(delays.at(-1) ?? 0);
      expect(program.restartDue(Date.now())).toBe(true);
      program.start();
    }
    expect(delays).toEqual([100, 200, 400, 500, 500]);
    program.ready(program.pid);
    vi.advanceTimersByTime(STABLE_MS + 1);
    expect(program.down()).toBe(100);
  });

  it('knows every process it started until told to forget one, and only the current one exits', () => {
    const program = started();
    const first = program.pid;
    program.ready(first);
    program.down();
    vi.advanceTimersByTime(100);
    program.start();
    expect(program.owns(first) && program.owns(program.pid)).toBe(true);
    expect(program.exited({ pid: first, code: 0, signal: null })).toBeNull();
    program.forget(first);
    expect(program.owns(first)).toBe(false);
  });

  it('is not restarted once stopped', () => {
    const program = started();
    program.ready(program.pid);
    program.stop();
    expect(program.down()).toBeNull();
    vi.advanceTimersByTime(60_000);
    expect(program.restartDue(Date.now())).toBe(false);
  });
});
