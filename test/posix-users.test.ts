/**
 * The calls --user stands on: getpwnam() looks a user up, setDumpable() sets the flag
 * that changing credentials clears. Both run in the test worker: neither forks.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native } from '../src/posix/binding.js';
import * as posix from '../src/posix/index.js';
import { ROOT } from './helpers/server.js';

/** The user database as the passwd file has it: name -> [uid, gid, home]. */
function passwdFile(): Map<string, [number, number, string]> {
  const users = new Map<string, [number, number, string]>();
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name, , uid, gid, , home] = line.split(':');
    if (name) users.set(name, [Number(uid), Number(gid), home ?? '']);
  }
  return users;
}

describe('getpwnam()', () => {
  it('finds root and nobody with the ids and home the passwd file gives', () => {
    const users = passwdFile();
    for (const name of ['root', 'nobody']) {
      const [uid, gid, dir] = users.get(name) ?? [];
      expect(posix.getpwnam(name)).toEqual({ name, uid, gid, dir });
    }
  });

  it('returns null for a user that does not exist', () => {
    expect(posix.getpwnam('no-such-user-here')).toBeNull();
  });

  it('refuses an empty name or one with a NUL byte, and the addon refuses a non-string', () => {
    expect(() => posix.getpwnam('')).toThrow(TypeError);
    expect(() => posix.getpwnam('root\0x')).toThrow(TypeError);
    expect(() => native.getpwnam(0 as unknown as string)).toThrow(new TypeError('name must be a string'));
  });
});

describe('setDumpable()', () => {
  const isRoot = process.getuid?.() === 0;

  // As root every /proc file is root's anyway: watch the owner from a process run as nobody.
  it.runIf(isRoot || process.env.CI !== undefined)("decides who owns the process's /proc files", () => {
    expect(isRoot, 'needs root to run a process as nobody (under CI it must run)').toBe(true);
    const script = `
      const posix = require(${JSON.stringify(`${ROOT}/build/Release/posix.node`)});
      const owner = () => require('fs').statSync('/proc/self/status').uid;
      posix.setDumpable(false); const off = owner();
      posix.setDumpable(true); console.log(off, owner());`;
    const run = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('0 65534');
  });

  it('refuses a non-boolean', () => {
    expect(() => native.setDumpable(1 as unknown as boolean)).toThrow(new TypeError('dumpable must be a boolean'));
  });
});
