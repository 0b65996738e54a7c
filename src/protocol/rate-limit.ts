/**
 * Flood control for one client: a token bucket (`ratePerSecond` tokens a second, up
 * to `burst`), one token per record the client makes: a line, or one read's telnet
 * answers (src/child/input.ts). Runs in the child, so a flooder's excess lines
 * never even reach the pipe. A client that keeps flooding (FLOOD_KICK_DROPS lines
 * dropped without the bucket ever filling up again) is to be disconnected.
 */

/** Dropped lines, without a pause long enough to refill the bucket, that get a client disconnected. */
export const FLOOD_KICK_DROPS = 50;

export type RateDecision = 'pass' | 'drop' | 'first-drop' | 'kick';

export class TokenBucket {
  private tokens: number;
  private last: number;
  /** Lines dropped since the bucket was last full. */
  dropped = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Full again, as new. */
  refill(): void {
    this.tokens = this.burst;
    this.last = this.now();
    this.dropped = 0;
  }

  /** Whether one more line may pass now. 'first-drop' starts an episode the sender should hear of. */
  take(): RateDecision {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
    this.last = now;
    if (this.tokens >= this.burst) this.dropped = 0; // a pause long enough: the slate is clean
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'pass';
    }
    this.dropped++;
    if (this.dropped >= FLOOD_KICK_DROPS) return 'kick';
    return this.dropped === 1 ? 'first-drop' : 'drop';
  }
}
