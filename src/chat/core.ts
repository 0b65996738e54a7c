/**
 * What the command modules (accounts, moderation, personal) may ask of the chat:
 * its state and its ways of telling people things. Chat implements it. Types only.
 */
import type { Delivery, PasswordHasher } from '../contracts.js';
import type { Store } from '../store/store.js';
import type { BanList } from './bans.js';
import type { Member, Room } from './model.js';
import type { RoomHistories } from './history.js';
import type { LoginThrottle } from './throttle.js';

export interface ChatCore {
  readonly delivery: Delivery | null;
  /** The database, once the server opened it; null before (and in the start-up rehearsal). */
  readonly store: Store | null;
  /** The password hasher process (none in --classic and in the start-up rehearsal). */
  readonly hasher: PasswordHasher | null;
  readonly bans: BanList;
  readonly throttle: LoginThrottle;
  readonly history: RoomHistories;
  /** The public lines a newcomer sees. */
  readonly historyLines: number;
  /** Members by pid, and by lower-cased nick. */
  readonly members: ReadonlyMap<number, Member>;
  readonly byNick: ReadonlyMap<string, Member>;
  /** Room topics, by room name. */
  readonly topics: Map<string, string>;
  /** The clock, in ms since the epoch. */
  nowMs(): number;
  /** A notice to one member: `*** text`. */
  tell(member: Member, text: string): void;
  /** A line, as is, to one member. */
  write(member: Member, line: string): void;
  /** A server line to a room: `[HH:MM] *** text`. */
  announce(room: Room, text: string, except?: Member): void;
  /** Tells the room, and the other servers, that `member` is here, once (QUIET_ARRIVAL_MS). */
  arrive(member: Member): void;
  /** Renames `member`, telling it and its room. */
  rename(member: Member, nick: string): void;
  /** A guest name nobody has. */
  guestName(): string;
  /** Someone ignoring `name` (lower-cased) changed their mind, or began to. */
  countIgnore(name: string, delta: 1 | -1): void;
  /** Runs `work`; a database error is logged and told, never fatal. */
  guarded(member: Member, work: () => void): void;
  /** The server log (logins, moderation). */
  log(level: 'info' | 'warn' | 'error', text: string): void;
}
