/**
 * Where the data directory is and how it is made: --data-dir, else
 * $XDG_STATE_HOME/posix-chat, else ~/.local/state/posix-chat; created on first use
 * with mode 0700 (it holds password hashes). Started as root with --user, the server
 * makes it that user's before giving up root, or the user could not open it after.
 */
import { chownSync, existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export const DATA_DIR_MODE = 0o700;

/** The data directory's path from the option (or its variable) and the environment. */
export function dataDirPath(option: string, env: NodeJS.ProcessEnv): string {
  if (option !== '') return path.resolve(option);
  const state = env.XDG_STATE_HOME;
  if (state !== undefined && path.isAbsolute(state)) return path.join(state, 'posix-chat');
  return path.join(env.HOME ?? homedir(), '.local', 'state', 'posix-chat');
}

/**
 * Makes `dir` (and its parents) if missing, with mode 0700. With `owner` (a uid and
 * gid), gives it and the files in it to that user. Returns the first directory it made
 * (`dir` or a parent of it), or null when `dir` was there already.
 */
export function prepareDataDir(dir: string, owner: { uid: number; gid: number } | null): string | null {
  const made = existsSync(dir) ? null : (mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE }) ?? dir);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
  if (owner !== null) {
    chownSync(dir, owner.uid, owner.gid);
    for (const file of readdirSync(dir)) chownSync(path.join(dir, file), owner.uid, owner.gid);
  }
  return made;
}

/**
 * Undoes prepareDataDir() for a server that did not start: removes `dir`, and its
 * parents up to `made` (what prepareDataDir() returned), each only while it is empty.
 */
export function removeUnusedDataDir(dir: string, made: string | null): void {
  if (made === null) return;
  for (let at = dir; at.length >= made.length; at = path.dirname(at)) {
    try {
      rmdirSync(at); // fails on a directory that is not empty: it is kept
    } catch {
      return;
    }
    if (at === made) return;
  }
}
