/**
 * What the chat keeps: its options, the people here and the rooms. Types only.
 */
import type { ClusterPort, Connection, PasswordHasher, RoomGroup } from '../contracts.js';
import type { Role } from '../store/store.js';
import type { ListBudget } from './budget.js';

export interface ChatOptions {
  /** Public lines a newcomer to a room sees (0: none). */
  historyLines: number;
  /** Prefix lines with [HH:MM]. */
  timestamps: boolean;
  /** Message of the day, shown after the welcome. */
  motd: readonly string[];
  /** The line limit, for the notice to a sender whose line was cut. */
  maxLineBytes: number;
  /** News of who joins and leaves goes to a room only while at most this many would hear it (default: no limit). */
  announceUpTo?: number;
  /** The clock (tests may set it). */
  now?: () => Date;
  /** The other servers, with --redis. */
  cluster?: ClusterPort;
  /** The password hasher process; without it (or a database) there are no accounts. */
  hasher?: PasswordHasher;
  /** Where moderation and logins are logged (the server log); none: nowhere. */
  log?: (level: 'info' | 'warn' | 'error', text: string) => void;
}

/**
 * What the next line of a member answers, instead of being said: a password; or
 * 'checking': the hasher has the last one, and lines typed meanwhile are not taken; or
 * 'refused': a password for a command that cannot go on, told `why` once it is typed.
 */
export type Prompt =
  | { kind: 'checking' }
  | { kind: 'refused'; why: string }
  | { kind: 'login'; account: string }
  | { kind: 'register' }
  | { kind: 'register-again'; first: string }
  | { kind: 'old-password' }
  | { kind: 'new-password' }
  | { kind: 'new-password-again'; first: string };

export interface Member {
  readonly connection: Connection;
  nick: string;
  room: Room;
  /** What /who * and /rooms may still cost this person. */
  readonly budget: ListBudget;
  /** The account logged in to (its name as registered), or null for a guest. */
  account: string | null;
  role: Role | null;
  /** Waiting for a password on the next line, or for the hasher's answer (echo is off meanwhile), or null. */
  prompt: Prompt | null;
  /** Muted until then (ms since the epoch; Infinity: until lifted), or 0. */
  mutedUntil: number;
  /** Lower-cased names whose lines this member does not see. */
  readonly ignores: Set<string>;
  /** The /away message, or null when here. */
  away: string | null;
  /** Whether the room (and the other servers) have been told this member is here (see QUIET_ARRIVAL_MS). */
  announced: boolean;
  /** Set by /quit: the connection ends this turn, and what it sent after the command is dropped. */
  leaving: boolean;
  /** The bytes its lines start with (`[HH:MM] <nick> `), while that minute and name last; null until its first line. */
  linePrefix: LinePrefix | null;
}

/** A member's line prefix in bytes, with the stamp and name it was made of. */
export interface LinePrefix {
  readonly stamp: string;
  readonly nick: string;
  readonly bytes: Buffer;
}

export interface Room {
  readonly name: string;
  readonly members: Set<Member>;
  /** How many of its members have been announced (the others are still arriving). */
  announced: number;
  /** Its members' connections, to send a line to all at the cost of one; made on first use. */
  group: RoomGroup | null;
}
