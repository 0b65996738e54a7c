/**
 * What the server keeps across restarts: accounts, bans, mutes, ignores, room topics,
 * room history and the audit trail of moderation. One interface, so the chat never
 * names a database; src/store/sqlite.ts is the embedded implementation. Types only.
 *
 * Every call is synchronous and small (one indexed row or a bounded list): the parent's
 * loop calls them between two sends. Writes of history lines are batched until a flush() finds them due.
 */

export type Role = 'operator' | 'user';
export const ROLES: readonly Role[] = ['operator', 'user'];

export interface Account {
  name: string;
  role: Role;
  /** The password hash with its salt and parameters (src/chat/password.ts). */
  hash: string;
  /** When it was made (ms since the epoch). */
  created: number;
}

/** A ban: `target` is a lower-cased name, or an address or CIDR block (`kind` says which). */
export interface Ban {
  target: string;
  kind: 'name' | 'address';
  /** When it ends (ms since the epoch), or null: until lifted. */
  until: number | null;
  by: string;
  reason: string;
  at: number;
}

export interface Mute {
  /** Lower-cased account name. */
  name: string;
  until: number | null;
}

export interface AuditEntry {
  at: number;
  /** Who did it: a name, or `cli` for the posix-chat user/audit commands. */
  actor: string;
  action: string;
  target: string;
  reason: string;
}

export interface Store {
  /** Where it lives, for the start-up line and the docs (`/var/lib/posix-chat/posix-chat.db`). */
  readonly location: string;

  account(name: string): Account | null;
  /** False when the name is registered already (names are compared without case). */
  addAccount(name: string, hash: string, role: Role, at: number): boolean;
  setPassword(name: string, hash: string): boolean;
  setRole(name: string, role: Role): boolean;
  deleteAccount(name: string): boolean;
  accounts(): Account[];

  /** Bans still in force at `now`. */
  bans(now: number): Ban[];
  /** Adds or replaces the ban on `ban.target`. */
  addBan(ban: Ban): void;
  removeBan(target: string): boolean;

  mutes(now: number): Mute[];
  setMute(mute: Mute): void;
  removeMute(name: string): boolean;

  /** The names (lower-cased) account `name` ignores. */
  ignores(name: string): string[];
  setIgnore(name: string, ignored: string, on: boolean): void;

  topics(): Map<string, string>;
  setTopic(room: string, topic: string): void;

  /** Queues a public line of `room` for the next flush(). */
  appendHistory(room: string, line: string): void;
  /** The last `lines` of every room (of the `rooms` most recently used), oldest first. */
  recentHistory(lines: number, rooms: number): Map<string, string[]>;
  /** The last `lines` of `room`, oldest first (what is queued included). */
  history(room: string, lines: number): string[];

  audit(entry: AuditEntry): void;
  /** The last `limit` audit entries, oldest first. */
  auditLog(limit: number): AuditEntry[];

  /** The end of a loop turn: writes what is queued (one transaction) when it is due (SQLite: once a second at most). */
  flush(): void;
  close(): void;
}

/**
 * One piece of the data servers share with --redis (src/store/shared-store.ts): what a
 * server writes to Redis, and what it hears back, checked. `null` (and an empty topic):
 * deleted. An account with `create` is only written when the name is free in Redis;
 * one with `set` changes only that field of the account Redis has (and nothing when
 * Redis has no such account), so that two servers changing one account keep both changes.
 */
export type SharedItem =
  | { c: 'account'; name: string; account: Account | null; create?: boolean; set?: 'role' | 'hash' }
  | { c: 'ban'; target: string; ban: Ban | null }
  | { c: 'mute'; name: string; mute: Mute | null }
  | { c: 'ignore'; name: string; ignored: string; on: boolean }
  | { c: 'topic'; room: string; topic: string }
  /** Written to Redis only: the cluster's audit trail. */
  | { c: 'audit'; entry: AuditEntry };

/** A Store that can also take in the shared data as another server or Redis has it. */
export interface MirrorStore extends Store {
  /** Applies `items` (from Redis); `replace`: they are everything, the shared tables' old rows go, and it is a copy from then on. */
  applyShared(items: readonly SharedItem[], replace: boolean): void;
  /** Whether it was ever replaced from Redis: false for a lone server's database joining a cluster. */
  isCopy(): boolean;
  /** Every row of the shared tables (bans and mutes in force at `now`), as items. */
  sharedItems(now: number): SharedItem[];
}
