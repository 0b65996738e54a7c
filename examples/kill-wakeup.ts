/**
 * kill(parent, SIGUSR1) as a wake-up call: children write to a shared pipe and
 * signal; the parent sleeps in sigtimedwait() and, on each wake-up, reads every
 * record waiting. Signals coalesce, so wake-ups are fewer than records: reading
 * one record per wake-up (as the 2013 original did) would lose messages.
 * Run: node --single-threaded dist/tools/examples/kill-wakeup.js
 */
import { _exit, fork, getpid, kill, pipe, read, setNonBlocking, sigaction, sigprocmask, sigtimedwait, waitpid, write } from 'posix-chat/posix';

const CHILDREN = 20;
sigprocmask('block', ['SIGUSR1']);
sigaction('SIGUSR1', 'forward');
const parent = getpid();
const [readFd, writeFd] = pipe();
setNonBlocking(readFd, true);

for (let i = 0; i < CHILDREN; i++) {
  if (fork() === 0) {
    write(writeFd, Buffer.from(`${String(getpid()).padStart(8)}\n`)); // 9 bytes: one atomic write
    kill(parent, 'SIGUSR1');
    _exit(0);
  }
}

let records = 0;
let wakeups = 0;
const buffer = Buffer.alloc(4096);
while (records < CHILDREN) {
  if (sigtimedwait(['SIGUSR1'], 2) === null) break;
  wakeups++;
  for (let n = read(readFd, buffer); n !== null; n = read(readFd, buffer)) records += n / 9;
}
for (let i = 0; i < CHILDREN; i++) waitpid(-1, 0); // reap every child: no zombies
console.log(`${CHILDREN} children each wrote a record and sent SIGUSR1`);
console.log(`the parent woke ${wakeups} time(s) and read ${records} record(s)`);
