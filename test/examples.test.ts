import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/server.js';

/**
 * Runs a compiled example (npm test builds them) in its own node process, with SIGUSR1
 * blocked before Node's thread pool starts (see the fixture): else a pool thread may
 * take one of two kills and forward it after the first wait, and they do not coalesce.
 */
function example(name: string): string {
  const run = spawnSync(process.execPath, ['--single-threaded', '--require', path.join(ROOT, 'test/fixtures/block-usr1.cjs'), path.join(ROOT, 'dist/tools/examples', `${name}.js`)], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000, // a bound on a hang, not a time limit: a busy machine starts node slowly
    killSignal: 'SIGKILL',
  });
  if (run.status !== 0) throw new Error(`${name} exited ${run.status ?? run.signal}: ${run.stderr}`);
  return run.stdout;
}

describe('examples/', () => {
  it('fork-waitpid: the child reports its own pid, and waitpid() its exit code, also for a child started in a function', () => {
    const out = example('fork-waitpid');
    const child = Number(/fork\(\) returned (\d+)/.exec(out)?.[1]);
    const parent = Number(/parent: I am (\d+)/.exec(out)?.[1]);
    expect(out).toContain(`child:  I am ${child} (process.pid still says ${parent}), my parent is ${parent}; exiting with 7`);
    expect(out).toContain(`waitpid(${child}) -> {"pid":${child},"code":7,"signal":null}`);
    const second = Number(/fork\(child, 9\) returned (\d+)/.exec(out)?.[1]);
    expect(out).toContain(`child:  I am ${second}, started in child(9); exiting with 9`);
    expect(out).toContain(`waitpid -> {"pid":${second},"code":9,"signal":null}`);
  });

  it('pipe: a length-prefixed record crosses from child to parent', () => {
    const match = /length header says (\d+): "(hello from child \d+)"/.exec(example('pipe'));
    expect(Number(match?.[1])).toBe(match?.[2]?.length);
  });

  it('sigtimedwait: a timeout, a pending signal with its sender, and coalescing', () => {
    const out = example('sigtimedwait');
    // It waited out its timeout: no upper bound, which would only measure how busy the machine is.
    const waited = /nothing pending: sigtimedwait\(SIGUSR1, 0\.5 s\) -> null after (\d+) ms/.exec(out);
    expect(Number(waited?.[1])).toBeGreaterThanOrEqual(450);
    expect(out).toMatch(/one pending: +-> \{"signo":10,"pid":\d+/);
    expect(out).toContain('the second kill: -> null');
  });

  it('kill-wakeup: every record is read, in no more wake-ups than records', () => {
    const out = example('kill-wakeup');
    const match = /woke (\d+) time\(s\) and read (\d+) record\(s\)/.exec(out);
    expect(Number(match?.[2])).toBe(20);
    expect(Number(match?.[1])).toBeGreaterThan(0);
    expect(Number(match?.[1])).toBeLessThanOrEqual(20);
  });
});
