/**
 * The answers to /who and /rooms, as lines: sorted, and cut at MAX_LISTED_ROWS with a
 * count of the rest, so no answer grows without bound with the server. Pure.
 */
import { MAX_LISTED_ROWS } from './budget.js';
import { MAX_NICK_LENGTH } from './rules.js';

export interface WhoRow {
  nick: string;
  /** What follows the padded nick: `#room idle 3m (you)`, ` on server-b`. */
  text: string;
}

/** A count of the people `where`, then a row each (sorted by nick, at most MAX_LISTED_ROWS), then how many more. */
export function whoLines(rows: WhoRow[], where: string): string[] {
  rows.sort((a, b) => a.nick.localeCompare(b.nick));
  const lines = [`${rows.length} ${rows.length === 1 ? 'person' : 'people'} ${where}:`];
  for (const row of rows.slice(0, MAX_LISTED_ROWS)) lines.push(`  ${row.nick.padEnd(MAX_NICK_LENGTH)}${row.text}`);
  if (rows.length > MAX_LISTED_ROWS) lines.push(`  ... and ${rows.length - MAX_LISTED_ROWS} more`);
  return lines;
}

/** `Rooms: #a (2), #b (1)`, sorted, at most MAX_LISTED_ROWS of them and how many more. */
export function roomsLine(counts: ReadonlyMap<string, number>): string {
  const rooms = [...counts].sort(([a], [b]) => a.localeCompare(b));
  const shown = rooms.slice(0, MAX_LISTED_ROWS).map(([name, count]) => `${name} (${count})`);
  const more = rooms.length > MAX_LISTED_ROWS ? ` and ${rooms.length - MAX_LISTED_ROWS} more` : '';
  return `Rooms: ${shown.join(', ')}${more}`;
}
