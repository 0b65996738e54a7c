import { describe, expect, it } from 'vitest';
import { FLOOD_KICK_DROPS, TokenBucket } from '../src/protocol/rate-limit.js';

function bucket(rate: number, burst: number): { bucket: TokenBucket; advance: (ms: number) => void } {
  let now = 1_000_000;
  return { bucket: new TokenBucket(rate, burst, () => now), advance: (ms) => (now += ms) };
}

describe('TokenBucket', () => {
  it('lets a burst through, then drops, telling the first drop apart', () => {
    const { bucket: b } = bucket(10, 20);
    const decisions = Array.from({ length: 23 }, () => b.take());
    expect(decisions.slice(0, 20).every((d) => d === 'pass')).toBe(true);
    expect(decisions.slice(20)).toEqual(['first-drop', 'drop', 'drop']);
  });

  it('refill() makes it as new: a whole burst again, no drops remembered', () => {
    const { bucket: b } = bucket(10, 20);
    for (let i = 0; i < 25; i++) b.take();
    expect(b.dropped).toBe(5);
    b.refill();
    expect(b.dropped).toBe(0);
    const decisions = Array.from({ length: 21 }, () => b.take());
    expect(decisions.slice(0, 20).every((d) => d === 'pass')).toBe(true);
    expect(decisions[20]).toBe('first-drop');
  });

  it('refills at the rate: 10 lines/s means one line every 100 ms', () => {
    const { bucket: b, advance } = bucket(10, 20);
    for (let i = 0; i < 20; i++) b.take();
    expect(b.take()).toBe('first-drop');
    advance(100);
    expect(b.take()).toBe('pass');
    expect(b.take()).toBe('drop');
  });

  it('forgives a pasted burst once the bucket has refilled', () => {
    const { bucket: b, advance } = bucket(10, 20);
    for (let i = 0; i < 30; i++) b.take();
    advance(2_000);
    expect(b.take()).toBe('pass');
    expect(b.dropped).toBe(0);
  });

  it('asks for a kick when the flooding goes on without a pause', () => {
    const { bucket: b, advance } = bucket(10, 20);
    const decisions: string[] = [];
    for (let i = 0; i < 400 && !decisions.includes('kick'); i++) {
      decisions.push(b.take());
      advance(50); // 20 lines/s against a limit of 10
    }
    expect(decisions).toContain('kick');
    expect(decisions.filter((d) => d !== 'pass').length).toBe(FLOOD_KICK_DROPS);
  });
});
