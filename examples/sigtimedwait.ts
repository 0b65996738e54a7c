/**
 * sigtimedwait(): wait for a signal synchronously, with a timeout, instead of
 * running a handler. The signal must be blocked first, or it would be delivered
 * the ordinary way (for SIGUSR1 in Node: start the inspector!).
 * Run: node --single-threaded dist/tools/examples/sigtimedwait.js
 */
import { getpid, kill, sigaction, sigprocmask, sigtimedwait } from 'posix-chat/posix';

sigprocmask('block', ['SIGUSR1']);
// Node's other threads do not all block SIGUSR1: forward any that lands there to us.
sigaction('SIGUSR1', 'forward');

let started = Date.now();
const nothing = sigtimedwait(['SIGUSR1'], 0.5);
console.log(`nothing pending: sigtimedwait(SIGUSR1, 0.5 s) -> ${JSON.stringify(nothing)} after ${Date.now() - started} ms`);

kill(getpid(), 'SIGUSR1'); // pending now, since it is blocked
kill(getpid(), 'SIGUSR1'); // standard signals do not queue: this one merges with the first
started = Date.now();
const first = sigtimedwait(['SIGUSR1'], 1);
console.log(`one pending:     -> ${JSON.stringify(first)} after ${Date.now() - started} ms`);
const second = sigtimedwait(['SIGUSR1'], 0.2);
console.log(`the second kill: -> ${JSON.stringify(second)} (the two signals coalesced into one)`);
