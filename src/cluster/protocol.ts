/**
 * What the parent and its Redis link (src/cluster/redis-link.ts) say to each other, and
 * the chat events servers share through the Redis stream. Each message travels
 * as one pipe record of type `link` holding JSON, so it obeys the same rules as a
 * child's records: at most PIPE_BUF bytes, written atomically, then SIGUSR1.
 */
import { encodeRecord, MAX_RECORD_DATA_BYTES, RecordType } from '../protocol/record.js';
import type { SharedItem } from '../store/store.js';

/** A nick and the room it is in. */
export type Presence = [nick: string, room: string];

/**
 * Something that happened on one server that the others must hear about. A public
 * line travels as its speaker and text (`me`: a /me action); each server builds the
 * line itself (`<bob> hi`, `* bob waves`) and stamps it with its own clock, so what
 * shows as someone's words is always their checked name and their checked text.
 */
export type ChatEvent =
  | { k: 'line'; room: string; nick: string; text: string; me: boolean }
  | { k: 'join'; nick: string; room: string }
  | { k: 'move'; nick: string; from: string; to: string }
  | { k: 'rename'; old: string; nick: string; room: string }
  | { k: 'leave'; nick: string; room: string; why: string }
  | { k: 'msg'; from: string; to: string; text: string }
  /** Everyone on the origin server: sent when its link (re)connects, replaces what others knew. */
  | { k: 'here'; users: Presence[] }
  /** The origin server is stopping: its users are gone. */
  | { k: 'down' };

/** Parent -> link. */
export type ToLink =
  /**
   * Append `ev` to the stream; `seq` counts this server's events, for acks and duplicate removal.
   * `to`: a private message, for the inbox of that server (its instance) only.
   */
  | { t: 'pub'; seq: number; ev: ChatEvent; to?: string }
  /** Who is on this server, in chunks, sent first to every new link process. */
  | { t: 'users'; users: Presence[]; last: boolean }
  /** Claim `nick` for this server, atomically in Redis; answered by `claimed`. */
  | { t: 'claim'; nick: string }
  /** Give up a claimed nick nobody here uses. */
  | { t: 'release'; nick: string }
  /** A new block of guest numbers; answered by `guests`. */
  | { t: 'guests' }
  /** Write a change of the shared data (accounts, bans ...) to Redis; `seq` counts them, answered by `written`. */
  | { t: 'write'; seq: number; item: SharedItem };

/** Link -> parent. */
export type FromLink =
  /** Connected, registered, and caught up; `from` is where it reads the stream from. */
  | { t: 'ready'; from: string; guests: [first: number, last: number] }
  /**
   * An event from another server (`o`: its instance, `srv`: its name, `s`: its seq), checked.
   * `old`: history only, from before this server started. `inbox`: from this server's inbox, not the stream.
   */
  | { t: 'ev'; id: string; o: string; srv: string; s: number; ev: ChatEvent; old?: boolean; inbox?: boolean }
  /** Every event up to `seq` is in the stream. */
  | { t: 'ack'; seq: number }
  /** Users of another live server, from Redis; `reset` on the first chunk of a new snapshot. */
  | { t: 'present'; reset: boolean; o: string; srv: string; users: Presence[] }
  | { t: 'claimed'; nick: string; ok: boolean }
  /** A local user's nick was claimed by another server while this one was cut off (past the presence TTL). */
  | { t: 'lost'; nick: string }
  | { t: 'guests'; guests: [first: number, last: number] }
  /** Another server stopped refreshing its presence: its users are gone. */
  | { t: 'gone'; o: string }
  /** Every write up to `seq` is in Redis (or was refused by it, and logged). */
  | { t: 'written'; seq: number }
  /** The shared data as Redis has it, checked, in pieces: `first` starts it, `last` ends it. */
  | { t: 'snapshot'; items: SharedItem[]; first: boolean; last: boolean }
  /** Shared data another server (or the admin command) changed, read again from Redis and checked. */
  | { t: 'changed'; items: SharedItem[] };

/** What the link says about the shared data. */
export type SharedFromLink = Extract<FromLink, { t: 'written' | 'snapshot' | 'changed' }>;
/** A write of the shared data to the link. */
export type SharedWrite = Extract<ToLink, { t: 'write' }>;

/** JSON bytes an event may take, leaving room for the wrapper fields around it. */
export const MAX_EVENT_JSON_BYTES = MAX_RECORD_DATA_BYTES - 400;
/** Presence entries per `users`/`present` chunk: 40 x (16 + 25 + JSON) stays far below a record. */
export const PRESENCE_CHUNK = 40;

/** One pipe record carrying `message`, from `pid`. */
export function encodeLinkRecord(pid: number, message: ToLink | FromLink): Buffer {
  return encodeRecord(RecordType.link, pid, Buffer.from(JSON.stringify(message)));
}

/** A message from the link to the parent, from a `link` record's data; null when it is not JSON with a string `t`. */
export function decodeFromLink(data: Uint8Array): FromLink | null {
  return decodeLinkValue(data) as FromLink | null;
}

/** A message from the parent to the link, from a `link` record's data; null when it is not JSON with a string `t`. */
export function decodeToLink(data: Uint8Array): ToLink | null {
  return decodeLinkValue(data) as ToLink | null;
}

/** The two processes are one program's: the shape past `t` is trusted. */
function decodeLinkValue(data: Uint8Array): { t: string } | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'));
    return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string' ? (value as { t: string }) : null;
  } catch {
    return null;
  }
}

/**
 * The event, with its free text shortened until its JSON fits MAX_EVENT_JSON_BYTES
 * (only a line near --max-line made of characters JSON escapes can be too long).
 */
export function fitEvent(ev: ChatEvent): ChatEvent {
  let fitted = ev;
  while (Buffer.byteLength(JSON.stringify(fitted)) > MAX_EVENT_JSON_BYTES) {
    if (fitted.k === 'line') fitted = { ...fitted, text: shorten(fitted.text) };
    else if (fitted.k === 'msg') fitted = { ...fitted, text: shorten(fitted.text) };
    else if (fitted.k === 'leave') fitted = { ...fitted, why: shorten(fitted.why) };
    else break; // names and rooms are short by rule
  }
  return fitted;
}

/** The text with its last tenth cut off, at a boundary between characters as people see them. */
function shorten(text: string): string {
  const graphemes = Array.from(new Intl.Segmenter().segment(text), ({ segment }) => segment);
  return graphemes.slice(0, Math.floor(graphemes.length * 0.9)).join('');
}

/** `list` in pieces of at most `size`; one empty piece for an empty list. */
export function chunks<T>(list: readonly T[], size: number): T[][] {
  const pieces: T[][] = [];
  for (let i = 0; i < list.length; i += size) pieces.push(list.slice(i, i + size));
  return pieces.length > 0 ? pieces : [[]];
}
