/**
 * fork() + waitpid(): a child is a copy of this process that carries on from the
 * same line; the parent learns how it ended and reaps it, so it leaves no zombie.
 * Run: node --single-threaded dist/tools/examples/fork-waitpid.js
 */
import { _exit, fork, getpid, getppid, waitpid, write } from 'posix-chat/posix';

const pid = fork();
if (pid === 0) {
  // The child: only this thread was copied. Synchronous calls only, then _exit().
  // write(2) on stdout, not console.log: Node's streams belong to the parent's event loop.
  write(1, Buffer.from(`child:  I am ${getpid()} (process.pid still says ${process.pid}), my parent is ${getppid()}; exiting with 7\n`));
  _exit(7);
}
console.log(`parent: I am ${getpid()}; fork() returned ${pid}`);
const status = waitpid(pid, 0);
console.log(`parent: waitpid(${pid}) -> ${JSON.stringify(status)}`);
