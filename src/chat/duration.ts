/** Durations as operators type them (`30s`, `30m`, `2h`, `7d`, `2w`) and as the chat says them. Pure. */

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** The longest duration taken: a year (a longer one is not a duration: looksLikeDuration()). */
const MAX_DURATION_MS = 366 * 86_400_000;

/** Milliseconds for `30m`, or null when `text` is not a duration. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,6})([smhdw])$/i.exec(text);
  if (match === null) return null;
  const ms = Number(match[1]) * (UNIT_MS[(match[2] ?? '').toLowerCase()] ?? 0);
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : null;
}

/** What to type instead of a word that is not a duration. */
export const DURATION_HINT = 'say 30s, 30m, 2h, 7d or 2w (a year at most)';

/** Whether `text` was meant as a duration (`0m`, `5y`, `-5m`, `90`), valid or not: a number, a sign, a unit. */
export function looksLikeDuration(text: string): boolean {
  return /^[+-]?\d+[a-z]?$/i.test(text);
}

/** `2h 5m`, `40s`: what is left until `until` (null: `until lifted`). */
export function describeUntil(until: number | null, now: number): string {
  if (until === null) return 'until lifted';
  const s = Math.max(1, Math.ceil((until - now) / 1000));
  if (s < 60) return `for ${s}s`;
  if (s < 3600) return `for ${Math.floor(s / 60)}m`;
  if (s < 86_400) return `for ${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `for ${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}
