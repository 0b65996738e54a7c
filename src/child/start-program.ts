/**
 * Starting a helper program beside the children (the Redis link, the password
 * hasher): fork(), then in the child put its two pipe ends on fixed descriptors
 * (0: what the parent writes to it, 3: the records pipe to the parent) and execve()
 * a fresh node on the program. The child runs no JavaScript of ours beyond these
 * calls, and every other descriptor of the parent's (close-on-exec, all of them:
 * client sockets, the database) closes at the execve().
 */
import { messageOf } from '../log.js';
import * as posix from '../posix/index.js';
import { becomeChild } from './become-child.js';

export interface ProgramStart {
  /** Its name in ps until execve() gives it node's. */
  name: string;
  /** The program: a script beside the caller's module in dist/. */
  script: string;
  /** Its settings, set in its environment on top of this process's (whose own POSIX_CHAT_ settings it does not get). */
  env: Record<string, string>;
  /** The write end of the records pipe to the parent: its fd 3. */
  pipeWriteFd: number;
  /** How a failed execve() names it on stderr: 'the Redis link'. */
  what: string;
}

export interface StartedProgram {
  pid: number;
  /** The parent's end of the program's fd 0, non-blocking. */
  inputFd: number;
}

/** Starts the program; throws (having closed what it opened) when pipe() or fork() fails. */
export function startProgram(start: ProgramStart): StartedProgram {
  const [readFd, writeFd] = posix.pipe();
  const env = environment(start.env);
  const argv = [process.execPath, start.script];
  const parentPid = posix.getpid();
  const becomeProgram = (): never => {
    try {
      becomeChild({ parentPid, name: start.name, closeFds: [], deathSignal: 'SIGTERM' });
      posix.dup2(readFd, 0);
      posix.dup2(start.pipeWriteFd, 3);
      posix.setCloseOnExec(1, false); // Node opened them close-on-exec; the program logs to them
      posix.setCloseOnExec(2, false);
      posix.execve(process.execPath, argv, env);
    } catch (error) {
      posix.write(2, Buffer.from(`posix-chat: cannot start ${start.what}: ${messageOf(error)}\n`));
    }
    return posix._exit(127);
  };
  let pid: number;
  try {
    pid = posix.fork(becomeProgram);
  } catch (error) {
    posix.close(readFd);
    posix.close(writeFd);
    throw error;
  }
  posix.close(readFd);
  posix.setNonBlocking(writeFd, true);
  return { pid, inputFd: writeFd };
}

/**
 * This process's environment with `extra` set, as execve() takes it. The server's own
 * settings (POSIX_CHAT_*, among them the Redis URL with its password) stay behind: a
 * program gets only those it is given.
 */
function environment(extra: Record<string, string>): string[] {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !name.startsWith('POSIX_CHAT_')) env[name] = value;
  Object.assign(env, extra);
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}
