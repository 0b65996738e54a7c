/**
 * Failed logins, counted per address: after a few, that address waits before it may
 * try again, twice as long after each further failure. Guessing a password from one
 * address so takes years; the parent's loop, which pays for each scrypt, is spared. Pure.
 */

/** Failures allowed before the first wait. */
export const FREE_FAILURES = 1;
const FIRST_WAIT_MS = 2_000;
const MAX_WAIT_MS = 15 * 60_000;
/** Addresses remembered at most; past this the oldest goes. */
const MAX_ADDRESSES = 10_000;

interface Failures {
  count: number;
  /** No attempt before this (ms since the epoch). */
  until: number;
}

export class LoginThrottle {
  private readonly failures = new Map<string, Failures>();

  /** Seconds `address` must still wait before trying, or 0. */
  wait(address: string, now: number): number {
    const entry = this.failures.get(address);
    return entry === undefined || entry.until <= now ? 0 : Math.ceil((entry.until - now) / 1000);
  }

  failed(address: string, now: number): void {
    const entry = this.failures.get(address) ?? { count: 0, until: 0 };
    entry.count++;
    if (entry.count > FREE_FAILURES) entry.until = now + Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** (entry.count - FREE_FAILURES - 1));
    this.failures.delete(address);
    this.failures.set(address, entry);
    if (this.failures.size > MAX_ADDRESSES) for (const oldest of this.failures.keys()) {
      this.failures.delete(oldest);
      break;
    }
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}
