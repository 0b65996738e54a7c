/**
 * fork() + waitpid(): a child is a copy of this process that carries on from the
 * same line; the parent learns how it ended and reaps it, so it leaves no zombie.
 * Then the form posix-chat uses wherever it forks in a loop: the child runs a function
 * given to fork() and never comes back from fork() into the caller's code, which V8 may
 * have optimised for the parent's side only (docs/fork-in-node.md, fact 14).
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

function child(code: number): never {
  write(1, Buffer.from(`child:  I am ${getpid()}, started in child(${code}); exiting with ${code}\n`));
  return _exit(code);
}
const second = fork(child, 9);
console.log(`parent: fork(child, 9) returned ${second}; waitpid -> ${JSON.stringify(waitpid(second, 0))}`);
