/**
 * Started as root, the server becomes an ordinary user once its socket listens and
 * before it forks anything: the zygote, the spares, every client's child and the Redis
 * link all run as that user. Root is needed for nothing after listen() (a port below
 * 1024), and a child that reads a stranger's bytes should not run as root.
 */
import { messageOf } from '../log.js';
import * as posix from '../posix/index.js';
import { StartError } from './server-options.js';

export const ROOT_UID = 0;

/** Node has process.initgroups() on POSIX systems, though @types/node does not declare it. */
type PosixProcess = NodeJS.Process & { initgroups?: (user: string, extraGroup: number) => void };

/** Why the server will not start as it is, or null: root must name the user to become. */
export function rootRefusal(uid: number, user: string): string | null {
  if (uid !== ROOT_UID || user !== '') return null;
  return 'running as root: give --user NAME (e.g. --user nobody) to become once listening, before any child is forked';
}

/**
 * Becomes `user`: its supplementary groups, then its group, then its uid (in that order:
 * once the uid has changed, the groups can no longer be). Then checks that root cannot be
 * taken back, and marks the process dumpable again so its /proc files are its own.
 * @returns what changed, for the log; null when the process runs as `user` already.
 */
export function becomeUser(user: string): string | null {
  const entry = posix.getpwnam(user);
  if (entry === null) throw new StartError(`--user: no such user '${user}'`);
  if (process.getuid?.() === entry.uid && process.geteuid?.() === entry.uid) return null;
  try {
    (process as PosixProcess).initgroups?.(entry.name, entry.gid);
    process.setgid?.(entry.gid);
    process.setuid?.(entry.uid);
  } catch (error) {
    throw new StartError(`--user ${user}: cannot change to uid ${entry.uid}: ${messageOf(error)}`);
  }
  if (process.getuid?.() !== entry.uid || process.geteuid?.() !== entry.uid || process.getegid?.() !== entry.gid) {
    throw new StartError(`--user ${user}: still running as uid ${process.geteuid?.()}`);
  }
  if (entry.uid !== ROOT_UID && canRegainRoot()) throw new StartError(`--user ${user}: root could be taken back; refusing to go on`);
  posix.setDumpable(true);
  return `running as ${entry.name} (uid ${entry.uid}, gid ${entry.gid})`;
}

function canRegainRoot(): boolean {
  try {
    process.setuid?.(ROOT_UID);
    return process.geteuid?.() === ROOT_UID;
  } catch {
    return false;
  }
}
