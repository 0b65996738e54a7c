/**
 * The SQLite store's history: kept per room in memory between writes, written at most
 * once a second by the loop's flush(), and never more than the last HISTORY_KEPT_LINES
 * of a room, however fast it talks. Read back through a second connection to the file,
 * as another process (the CLI) would see it.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, HISTORY_KEPT_LINES, HISTORY_WRITE_INTERVAL_MS, SqliteStore } from '../../src/store/sqlite.js';

const dirs: string[] = [];
const stores: SqliteStore[] = [];

function open(dir?: string): { store: SqliteStore; dir: string; rowsOnDisk: (room: string) => number } {
  const where = dir ?? mkdtempSync(path.join(tmpdir(), 'posix-chat-history-'));
  if (dir === undefined) dirs.push(where);
  const store = new SqliteStore(where);
  stores.push(store);
  const rowsOnDisk = (room: string): number => {
    const reader = new Database(path.join(where, DATABASE_FILE), { readonly: true });
    try {
      return (reader.prepare('SELECT count(*) AS n FROM history WHERE room = ?').get(room) as { n: number }).n;
    } finally {
      reader.close();
    }
  };
  return { store, dir: where, rowsOnDisk };
}

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('history in the SQLite store', () => {
  it('writes at a flush once the interval has passed, not at every loop turn', () => {
    const { store, rowsOnDisk } = open();
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) store.appendHistory('#lobby', `line ${i}`);
    store.flush(t0);
    expect(rowsOnDisk('#lobby')).toBe(5);
    for (let i = 5; i < 10; i++) store.appendHistory('#lobby', `line ${i}`);
    store.flush(t0 + HISTORY_WRITE_INTERVAL_MS - 1);
    expect(rowsOnDisk('#lobby')).toBe(5); // queued, not yet due
    store.flush(t0 + HISTORY_WRITE_INTERVAL_MS);
    expect(rowsOnDisk('#lobby')).toBe(10);
  });

  it('shows queued lines at once to a reader in the server, oldest first', () => {
    const { store } = open();
    store.flush(1_000_000);
    for (let i = 0; i < 3; i++) store.appendHistory('#a', `a${i}`);
    store.appendHistory('#b', 'b0');
    expect(store.history('#a', 10)).toEqual(['a0', 'a1', 'a2']);
    expect([...store.recentHistory(10, 10)]).toEqual([
      ['#a', ['a0', 'a1', 'a2']],
      ['#b', ['b0']],
    ]);
  });

  it('orders rooms by their last line, whichever spoke first in a batch', () => {
    const { store } = open();
    store.flush(1_000_000);
    store.appendHistory('#a', 'a0');
    store.appendHistory('#b', 'b0');
    store.appendHistory('#a', 'a1'); // #a spoke last
    store.flush(1_000_000 + HISTORY_WRITE_INTERVAL_MS);
    expect([...store.recentHistory(10, 1).keys()]).toEqual(['#a']);
    expect([...store.recentHistory(10, 2).keys()]).toEqual(['#b', '#a']); // oldest first
  });

  it('keeps only the last lines of a room that talks faster than the writes', () => {
    const { store, rowsOnDisk } = open();
    const lines = Array.from({ length: 5 * HISTORY_KEPT_LINES + 7 }, (_, i) => `line ${i}`);
    for (const line of lines) store.appendHistory('#busy', line);
    store.flush(1_000_000);
    expect(rowsOnDisk('#busy')).toBe(HISTORY_KEPT_LINES);
    expect(store.history('#busy', HISTORY_KEPT_LINES)).toEqual(lines.slice(-HISTORY_KEPT_LINES));
  });

  it('writes what is queued when closed, so a restart finds it', () => {
    const first = open();
    first.store.flush(1_000_000);
    first.store.appendHistory('#lobby', 'said just before the stop');
    first.store.close();
    const again = open(first.dir);
    expect(again.store.history('#lobby', 5)).toEqual(['said just before the stop']);
  });
});
