/**
 * Signals: the calling thread's mask, what a signal does, and the synchronous wait.
 * See native/signals.cc and man 2 sigtimedwait.
 */
import { checkSeconds, native, signalNumber, type Signal, type SignalInfo } from './binding.js';

/**
 * `pthread_sigmask(2)` for the calling thread: 'block' adds `signals` to the mask, 'unblock'
 * removes them, 'setmask' replaces the mask. Returns the previous mask as signal numbers.
 * A blocked signal stays pending until `sigtimedwait()` takes it.
 */
export function sigprocmask(how: 'block' | 'unblock' | 'setmask', signals: readonly Signal[]): number[] {
  return native.sigprocmask(how, signalNumbers(signals));
}

/**
 * `sigaction(2)`: sets what `signal` does: 'default', 'ignore', or 'forward'.
 *
 * 'forward' installs a handler that re-sends the signal with `tgkill()` to the thread that called
 * this (Node's other threads do not block SIGTERM; one of them could otherwise take it and kill the
 * process). That thread must block the signal first and collect it with `sigtimedwait()`.
 * Forwarding SIGUSR1 also replaces Node's own handler, which would start the inspector.
 */
export function sigaction(signal: Signal, action: 'default' | 'ignore' | 'forward'): void {
  // Checked at run time too: JavaScript callers of posix-chat/posix have no types.
  const name: string = action;
  if (name !== 'default' && name !== 'ignore' && name !== 'forward') {
    throw new TypeError(`action must be 'default', 'ignore' or 'forward', got ${name}`);
  }
  native.sigaction(signalNumber(signal), action);
}

/**
 * `sigtimedwait(2)`: waits up to `timeoutSeconds` for one of `signals` (which must be blocked in
 * this thread) and takes it. Returns what is known of it, or null on timeout. An interruption
 * (EINTR) is retried with the time left.
 * @throws TypeError when `timeoutSeconds` is not a finite number >= 0 (NaN, Infinity, -1),
 *   RangeError above 2**31 - 1 seconds.
 */
export function sigtimedwait(signals: readonly Signal[], timeoutSeconds: number): SignalInfo | null {
  checkSeconds(timeoutSeconds, 'timeoutSeconds');
  return native.sigtimedwait(signalNumbers(signals), timeoutSeconds);
}

function signalNumbers(signals: readonly Signal[]): number[] {
  if (!Array.isArray(signals)) throw new TypeError('signals must be an array');
  return signals.map(signalNumber);
}
