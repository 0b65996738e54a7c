/**
 * ReadPacing (src/child/serve-client.ts): when a child's reads of its client switch to
 * waiting for a batch of lines, and back. On a real socketpair, in the test's own process
 * (nothing forks here).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BACK_TO_BACK_US, ReadPacing } from '../src/child/serve-client.js';
import * as posix from '../src/posix/index.js';

const open: number[] = [];
afterEach(() => {
  for (const fd of open.splice(0)) posix.close(fd);
});

function pacing(): ReadPacing {
  const [ours, theirs] = posix.socketpair();
  open.push(ours, theirs);
  return new ReadPacing(ours);
}

/** Returns once `micros` have passed on the monotonic clock (a busy wait: no timer is that fine). */
function spin(micros: number): void {
  const from = posix.monotonicMicros();
  while (posix.microsBetween(from, posix.monotonicMicros()) <= micros);
}

describe('ReadPacing', () => {
  it('batches once a read finds several lines, and stops when a wait ends with nothing', () => {
    const p = pacing();
    p.read(0);
    expect(p.batching).toBe(false);
    p.read(2);
    expect(p.batching).toBe(true);
    p.quiet();
    expect(p.batching).toBe(false);
  });

  it('batches when single lines come back to back, within BACK_TO_BACK_US of each other', () => {
    // Two calls in a row are microseconds apart; a test machine that stops this process for
    // a millisecond between them gets another try.
    let batched = false;
    for (let attempt = 0; attempt < 20 && !batched; attempt++) {
      const p = pacing();
      p.read(1);
      expect(p.batching).toBe(false); // the first read has nothing before it
      p.read(1);
      batched = p.batching;
    }
    expect(batched).toBe(true);
  });

  it('does not batch single lines further apart than that, as a person types them', () => {
    const p = pacing();
    for (let i = 0; i < 3; i++) {
      p.read(1);
      expect(p.batching).toBe(false);
      spin(BACK_TO_BACK_US + 200);
    }
    p.read(0); // a read with no whole line (half a line, telnet talk) changes nothing either
    expect(p.batching).toBe(false);
  });
});
