/**
 * The Store in an embedded SQLite database (better-sqlite3): one file in the data
 * directory, in WAL mode (readers such as `posix-chat user list` never block the
 * server), its schema brought up to date by numbered migrations kept in
 * `PRAGMA user_version`. Only the parent opens it, after the zygote is forked; fds()
 * names its descriptors so a child forked later closes them.
 */
import Database from 'better-sqlite3';
import { readdirSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import type { Account, AuditEntry, Ban, MirrorStore, Mute, Role, SharedItem } from './store.js';

export const DATABASE_FILE = 'posix-chat.db';
/** SQLite's name for a database in memory, which no file holds. */
const IN_MEMORY = ':memory:';
/** Lines kept per room in the database: the most /history shows. */
export const HISTORY_KEPT_LINES = 200;
/** Lines appended to a room between two trims of its older lines. */
const TRIM_EVERY_LINES = 50;
/**
 * The loop's flush() writes history at most this often. Between two writes, a room's
 * queued lines are capped at HISTORY_KEPT_LINES (older ones would be trimmed at once),
 * so a busy room costs the database at most that many inserts a second, however fast
 * it talks. A crash (SIGKILL, power) loses the lines since the last write: about two
 * seconds at most, as an idle loop turns once a second; a clean stop loses none
 * (close() writes what is queued).
 */
export const HISTORY_WRITE_INTERVAL_MS = 1000;
/** How long a write waits for another process (the CLI) holding the lock, in ms. */
const BUSY_TIMEOUT_MS = 200;

/** Migration n brings the schema from version n to n + 1. Never edit one that shipped: add another. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE accounts (name TEXT PRIMARY KEY COLLATE NOCASE, role TEXT NOT NULL, hash TEXT NOT NULL, created INTEGER NOT NULL);
   CREATE TABLE bans (target TEXT PRIMARY KEY, kind TEXT NOT NULL, until INTEGER, by TEXT NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL);
   CREATE TABLE mutes (name TEXT PRIMARY KEY COLLATE NOCASE, until INTEGER);
   CREATE TABLE ignores (name TEXT NOT NULL COLLATE NOCASE, ignored TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (name, ignored)) WITHOUT ROWID;
   CREATE TABLE topics (room TEXT PRIMARY KEY, topic TEXT NOT NULL);
   CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, line TEXT NOT NULL);
   CREATE INDEX history_by_room ON history (room, id);
   CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL);`,
  // `copy`: the shared tables are a copy of a cluster's Redis (--redis), replaced from it.
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];
export const SCHEMA_VERSION = MIGRATIONS.length;

interface AccountRow {
  name: string;
  role: string;
  hash: string;
  created: number;
}
interface BanRow {
  target: string;
  kind: string;
  until: number | null;
  by: string;
  reason: string;
  at: number;
}

export class SqliteStore implements MirrorStore {
  readonly location: string;
  private readonly db: Database.Database;
  /** History lines waiting to be written, by room: each at most HISTORY_KEPT_LINES once written. */
  private pending = new Map<string, string[]>();
  /** The room whose lines were appended last: the last in `pending`'s order. */
  private lastRoom: string | null = null;
  /** When history was last written (ms, on the monotonic clock: a clock set back must not stop the writes). */
  private writtenAt = -Infinity;
  /** Lines appended per room since its last trim. */
  private readonly sinceTrim = new Map<string, number>();
  private descriptors: number[] = [];
  /** writeHistory() runs up to once a second: its statements are compiled once. */
  private readonly insertLine: Database.Statement;
  private readonly trimRoom: Database.Statement;

  /** Opens (creating it if new) the database in `dir`, which must exist; null: one in memory, gone on close. */
  constructor(dir: string | null) {
    this.location = dir === null ? IN_MEMORY : path.join(dir, DATABASE_FILE);
    this.db = new Database(this.location, { timeout: BUSY_TIMEOUT_MS });
    try {
      this.db.pragma('journal_mode = WAL');
      // In WAL mode NORMAL loses at most the last transactions on a power cut, never the file.
      this.db.pragma('synchronous = NORMAL');
      this.migrate();
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.insertLine = this.db.prepare('INSERT INTO history (room, line) VALUES (?, ?)');
    this.trimRoom = this.db.prepare('DELETE FROM history WHERE room = ? AND id <= (SELECT id FROM history WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?)');
    this.descriptors = dir === null ? [] : this.findDescriptors(); // in memory: no file, no descriptor
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`${this.location} has schema version ${version}, newer than this posix-chat knows (${SCHEMA_VERSION}): upgrade posix-chat`);
    for (let v = version; v < SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] ?? '');
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** The descriptors this process holds on the database, its WAL and shared-memory files. */
  private findDescriptors(): number[] {
    const fds: number[] = [];
    for (const entry of readdirSync('/proc/self/fd')) {
      try {
        if (readlinkSync(`/proc/self/fd/${entry}`).startsWith(this.location)) fds.push(Number(entry));
      } catch {
        // The descriptor readdir itself used, closed by now.
      }
    }
    return fds;
  }

  /** Descriptors a forked child must close. */
  fds(): number[] {
    return this.descriptors;
  }

  // ---------------------------------------------------------------- accounts

  account(name: string): Account | null {
    const row = this.db.prepare('SELECT name, role, hash, created FROM accounts WHERE name = ?').get(name) as AccountRow | undefined;
    return row === undefined ? null : toAccount(row);
  }

  addAccount(name: string, hash: string, role: Role, at: number): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO accounts (name, role, hash, created) VALUES (?, ?, ?, ?)').run(name, role, hash, at).changes === 1;
  }

  setPassword(name: string, hash: string): boolean {
    return this.db.prepare('UPDATE accounts SET hash = ? WHERE name = ?').run(hash, name).changes === 1;
  }

  setRole(name: string, role: Role): boolean {
    return this.db.prepare('UPDATE accounts SET role = ? WHERE name = ?').run(role, name).changes === 1;
  }

  deleteAccount(name: string): boolean {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM ignores WHERE name = ?').run(name);
      this.db.prepare('DELETE FROM mutes WHERE name = ?').run(name);
      return this.db.prepare('DELETE FROM accounts WHERE name = ?').run(name).changes === 1;
    })();
  }

  accounts(): Account[] {
    return (this.db.prepare('SELECT name, role, hash, created FROM accounts ORDER BY name').all() as AccountRow[]).map(toAccount);
  }

  // ------------------------------------------------------------ bans, mutes

  bans(now: number): Ban[] {
    const rows = this.db.prepare('SELECT target, kind, until, by, reason, at FROM bans WHERE until IS NULL OR until > ? ORDER BY at').all(now) as BanRow[];
    return rows.map((row) => ({ ...row, kind: row.kind === 'address' ? 'address' : 'name' }));
  }

  addBan(ban: Ban): void {
    this.db.prepare('INSERT OR REPLACE INTO bans (target, kind, until, by, reason, at) VALUES (?, ?, ?, ?, ?, ?)').run(ban.target, ban.kind, ban.until, ban.by, ban.reason, ban.at);
  }

  removeBan(target: string): boolean {
    return this.db.prepare('DELETE FROM bans WHERE target = ?').run(target).changes === 1;
  }

  mutes(now: number): Mute[] {
    return this.db.prepare('SELECT name, until FROM mutes WHERE until IS NULL OR until > ?').all(now) as Mute[];
  }

  setMute(mute: Mute): void {
    this.db.prepare('INSERT OR REPLACE INTO mutes (name, until) VALUES (?, ?)').run(mute.name, mute.until);
  }

  removeMute(name: string): boolean {
    return this.db.prepare('DELETE FROM mutes WHERE name = ?').run(name).changes === 1;
  }

  // ------------------------------------------------------- ignores, topics

  ignores(name: string): string[] {
    return (this.db.prepare('SELECT ignored FROM ignores WHERE name = ?').all(name) as { ignored: string }[]).map((row) => row.ignored);
  }

  setIgnore(name: string, ignored: string, on: boolean): void {
    if (on) this.db.prepare('INSERT OR IGNORE INTO ignores (name, ignored) VALUES (?, ?)').run(name, ignored);
    else this.db.prepare('DELETE FROM ignores WHERE name = ? AND ignored = ?').run(name, ignored);
  }

  topics(): Map<string, string> {
    const rows = this.db.prepare('SELECT room, topic FROM topics').all() as { room: string; topic: string }[];
    return new Map(rows.map((row) => [row.room, row.topic]));
  }

  setTopic(room: string, topic: string): void {
    if (topic === '') this.db.prepare('DELETE FROM topics WHERE room = ?').run(room);
    else this.db.prepare('INSERT OR REPLACE INTO topics (room, topic) VALUES (?, ?)').run(room, topic);
  }

  // ------------------------------------------------- the shared data (--redis)

  applyShared(items: readonly SharedItem[], replace: boolean): void {
    this.db.transaction(() => {
      if (replace) {
        this.db.exec('DELETE FROM accounts; DELETE FROM bans; DELETE FROM mutes; DELETE FROM ignores; DELETE FROM topics;');
        this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('copy', '1')").run();
      }
      for (const item of items) this.applyItem(item);
    })();
  }

  isCopy(): boolean {
    return this.db.prepare("SELECT value FROM meta WHERE key = 'copy'").get() !== undefined;
  }

  sharedItems(now: number): SharedItem[] {
    const items: SharedItem[] = this.accounts().map((account) => ({ c: 'account', name: account.name, account }));
    for (const ban of this.bans(now)) items.push({ c: 'ban', target: ban.target, ban });
    for (const mute of this.mutes(now)) items.push({ c: 'mute', name: mute.name, mute });
    for (const { name, ignored } of this.db.prepare('SELECT name, ignored FROM ignores').all() as { name: string; ignored: string }[]) items.push({ c: 'ignore', name, ignored, on: true });
    for (const [room, topic] of this.topics()) items.push({ c: 'topic', room, topic });
    return items;
  }

  private applyItem(item: SharedItem): void {
    switch (item.c) {
      case 'account':
        if (item.account === null) this.deleteAccount(item.name);
        else this.db.prepare('INSERT OR REPLACE INTO accounts (name, role, hash, created) VALUES (?, ?, ?, ?)').run(item.account.name, item.account.role, item.account.hash, item.account.created);
        return;
      case 'ban':
        if (item.ban === null) this.removeBan(item.target);
        else this.addBan(item.ban);
        return;
      case 'mute':
        if (item.mute === null) this.removeMute(item.name);
        else this.setMute(item.mute);
        return;
      case 'ignore':
        return this.setIgnore(item.name, item.ignored, item.on);
      case 'topic':
        return this.setTopic(item.room, item.topic);
      case 'audit':
        return; // kept by whoever wrote it; the cluster's trail is in Redis
    }
  }

  // ----------------------------------------------------------------- history

  appendHistory(room: string, line: string): void {
    // Taken out and put back: the map's order is then the rooms' order of last activity,
    // the order their lines get ids in, which recentHistory() sorts rooms by. A room
    // that is last already stays (a busy room's lines come one after another).
    const lines = this.pending.get(room) ?? [];
    if (room !== this.lastRoom) {
      this.pending.delete(room);
      this.pending.set(room, lines);
      this.lastRoom = room;
    }
    lines.push(line);
    // Lines older than the last HISTORY_KEPT_LINES would be trimmed as soon as written.
    if (lines.length >= 2 * HISTORY_KEPT_LINES) lines.splice(0, lines.length - HISTORY_KEPT_LINES);
  }

  recentHistory(lines: number, rooms: number): Map<string, string[]> {
    const histories = new Map<string, string[]>();
    if (lines === 0) return histories;
    this.writeHistory();
    const recent = this.db.prepare('SELECT room FROM history GROUP BY room ORDER BY max(id) DESC LIMIT ?').all(rooms) as { room: string }[];
    for (const { room } of recent.reverse()) histories.set(room, this.history(room, lines));
    return histories;
  }

  history(room: string, lines: number): string[] {
    this.writeHistory();
    const rows = this.db.prepare('SELECT line FROM history WHERE room = ? ORDER BY id DESC LIMIT ?').all(room, lines) as { line: string }[];
    return rows.map((row) => row.line).reverse();
  }

  // ------------------------------------------------------------------- audit

  audit(entry: AuditEntry): void {
    this.db.prepare('INSERT INTO audit (at, actor, action, target, reason) VALUES (?, ?, ?, ?, ?)').run(entry.at, entry.actor, entry.action, entry.target, entry.reason);
  }

  auditLog(limit: number): AuditEntry[] {
    const rows = this.db.prepare('SELECT at, actor, action, target, reason FROM audit ORDER BY id DESC LIMIT ?').all(limit) as AuditEntry[];
    return rows.reverse();
  }

  // ---------------------------------------------------------------- lifecycle

  /** The loop's end of turn: writes the queued history if HISTORY_WRITE_INTERVAL_MS have passed since the last write. */
  flush(now = performance.now()): void {
    if (this.pending.size === 0 || now - this.writtenAt < HISTORY_WRITE_INTERVAL_MS) return;
    this.writtenAt = now;
    this.writeHistory();
  }

  /** Writes the queued history now, in one transaction. */
  private writeHistory(): void {
    if (this.pending.size === 0) return;
    const rooms = this.pending;
    this.pending = new Map();
    this.lastRoom = null;
    this.db.transaction(() => {
      for (const [room, queued] of rooms) {
        for (const line of queued.slice(-HISTORY_KEPT_LINES)) this.insertLine.run(room, line);
        const count = (this.sinceTrim.get(room) ?? 0) + Math.min(queued.length, HISTORY_KEPT_LINES);
        if (count < TRIM_EVERY_LINES) {
          this.sinceTrim.set(room, count);
          continue;
        }
        this.sinceTrim.delete(room);
        this.trimRoom.run(room, room, HISTORY_KEPT_LINES);
      }
    })();
  }

  close(): void {
    if (!this.db.open) return;
    try {
      this.writeHistory();
    } finally {
      this.db.close();
    }
    this.descriptors = [];
  }
}

function toAccount(row: AccountRow): Account {
  return { name: row.name, role: row.role === 'operator' ? 'operator' : 'user', hash: row.hash, created: row.created };
}
