import { describe, expect, it } from 'vitest';
import { minuteStamp } from '../../src/chat/rules.js';

/** What a stamp should say for `ms`, from a Date of its own. */
function expected(ms: number): string {
  const date = new Date(ms);
  return `[${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}] `;
}

describe('minuteStamp', () => {
  it('says the local hour and minute, and changes at each minute, forward and back', () => {
    const start = Date.UTC(2026, 11, 1, 23, 58, 30);
    for (const ms of [start, start + 29_999, start + 30_000, start + 90_000, start + 3_600_000, start - 60_000, start]) {
      expect(minuteStamp(ms)).toBe(expected(ms));
    }
    expect(minuteStamp(0)).toBe(expected(0));
    // Whatever the zone: a time made from local fields reads back as those fields.
    expect(minuteStamp(new Date(2026, 11, 1, 9, 5, 59).getTime())).toBe('[09:05] ');
    expect(minuteStamp(new Date(2026, 11, 1, 23, 59, 0).getTime())).toBe('[23:59] ');
  });

  it('gives the same text for every moment of one minute', () => {
    const minute = Date.UTC(2026, 11, 1, 9, 5, 0);
    const first = minuteStamp(minute);
    expect(minuteStamp(minute + 59_999)).toBe(first);
    expect(minuteStamp(minute + 60_000)).not.toBe(first);
  });
});
