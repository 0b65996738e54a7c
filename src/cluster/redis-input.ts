/**
 * What the Redis link accepts from Redis. Anyone who can write to the Redis (a shared
 * or managed instance) can write anything there, so every stream entry and presence
 * key is held to the rules local input obeys (src/chat/rules.ts for names and rooms,
 * src/protocol/text.ts for text) and to sizes, before the parent hears of it. What
 * fails is refused whole, with the reason, never repaired. Pure: no Redis client.
 */
import { checkNick, checkRoom } from '../chat/rules.js';
import { hasUnsafeText } from '../protocol/text.js';
import { MAX_RECORD_DATA_BYTES } from '../protocol/record.js';
import { MAX_EVENT_JSON_BYTES, PRESENCE_CHUNK, type ChatEvent, type Presence } from './protocol.js';

/** A server process's instance id, as Cluster makes it: 6 random bytes in hex. */
export const INSTANCE_PATTERN = /^[0-9a-f]{12}$/;
/** A server's name, as --server-name allows it (or HOST:PORT, its default). */
export const SERVER_NAME_PATTERN = /^[\x21-\x7e]{1,40}$/;
/** The longest text of a line or private message: what --max-line can allow. */
export const MAX_TEXT_CHARS = MAX_RECORD_DATA_BYTES;
/** The longest reason for a leave: `quit: ` or `disconnected: ` and 200 characters of detail. */
export const MAX_WHY_CHARS = 256;
/** A stream entry has four fields (o, srv, s, e); a few more are tolerated, not read. */
const MAX_ENTRY_FIELDS = 16;

/** A stream entry that passed every check. */
export interface Entry {
  o: string;
  srv: string;
  s: number;
  ev: ChatEvent;
}

/** Where an entry was read: the shared stream (public events) or this server's inbox (private messages). */
export type Channel = 'stream' | 'inbox';

export const isInstance = (value: unknown): value is string => typeof value === 'string' && INSTANCE_PATTERN.test(value);
export const isServerName = (value: unknown): value is string => typeof value === 'string' && SERVER_NAME_PATTERN.test(value);
const isNick = (value: unknown): value is string => typeof value === 'string' && checkNick(value) === null;
const isRoom = (value: unknown): value is string => typeof value === 'string' && checkRoom(value) === null;
const isText = (value: unknown, maxChars: number): value is string =>
  typeof value === 'string' && value.length <= maxChars && value.trim() !== '' && !hasUnsafeText(value);
export const isPresence = (nick: unknown, room: unknown): boolean => isNick(nick) && isRoom(room);

/** A stream entry's fields (`[name, value, ...]`) as an Entry, or why it is refused. */
export function readEntry(fields: readonly string[], channel: Channel): Entry | string {
  if (fields.length > MAX_ENTRY_FIELDS) return 'too many fields';
  const entry = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i] ?? '';
    if (!entry.has(name)) entry.set(name, fields[i + 1] ?? '');
  }
  const o = entry.get('o');
  const srv = entry.get('srv');
  const s = entry.get('s') ?? '';
  const json = entry.get('e') ?? '';
  if (!isInstance(o)) return 'o is not an instance id';
  if (!isServerName(srv)) return 'srv is not a server name';
  // 0: not numbered (here, down); else a count that stays exact as a JavaScript number.
  if (!/^\d{1,16}$/.test(s) || !Number.isSafeInteger(Number(s))) return 's is not a sequence number';
  if (Buffer.byteLength(json) > MAX_EVENT_JSON_BYTES) return 'e is too long';
  const ev = readChatEvent(json);
  if (typeof ev === 'string') return ev;
  if (channel === 'stream' && ev.k === 'msg') return 'a private message in the shared stream';
  if (channel === 'inbox' && ev.k !== 'msg') return 'not a private message in an inbox';
  return { o, srv, s: Number(s), ev };
}

/**
 * The event in an entry's JSON, rebuilt from its checked fields only (nothing else
 * another writer put in it passes), or why it is refused.
 */
export function readChatEvent(json: string): ChatEvent | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return 'e is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'e is not an object';
  const v = parsed as Record<string, unknown>;
  switch (v.k) {
    case 'line':
      if (!isRoom(v.room) || !isNick(v.nick) || !isText(v.text, MAX_TEXT_CHARS) || typeof v.me !== 'boolean') return 'a bad line';
      return { k: 'line', room: v.room, nick: v.nick, text: v.text, me: v.me };
    case 'join':
      if (!isNick(v.nick) || !isRoom(v.room)) return 'a bad join';
      return { k: 'join', nick: v.nick, room: v.room };
    case 'move':
      if (!isNick(v.nick) || !isRoom(v.from) || !isRoom(v.to)) return 'a bad move';
      return { k: 'move', nick: v.nick, from: v.from, to: v.to };
    case 'rename':
      if (!isNick(v.old) || !isNick(v.nick) || !isRoom(v.room)) return 'a bad rename';
      return { k: 'rename', old: v.old, nick: v.nick, room: v.room };
    case 'leave':
      if (!isNick(v.nick) || !isRoom(v.room) || !isText(v.why, MAX_WHY_CHARS)) return 'a bad leave';
      return { k: 'leave', nick: v.nick, room: v.room, why: v.why };
    case 'msg':
      if (!isNick(v.from) || !isNick(v.to) || !isText(v.text, MAX_TEXT_CHARS)) return 'a bad private message';
      return { k: 'msg', from: v.from, to: v.to, text: v.text };
    case 'here': {
      const users = v.users;
      if (!Array.isArray(users) || users.length > PRESENCE_CHUNK) return 'a bad user list';
      const checked: Presence[] = [];
      for (const p of users as unknown[]) {
        if (!Array.isArray(p) || p.length !== 2 || !isPresence(p[0], p[1])) return 'a bad user list';
        checked.push([p[0] as string, p[1] as string]);
      }
      return { k: 'here', users: checked };
    }
    case 'down':
      return { k: 'down' };
    default:
      return 'an unknown kind of event';
  }
}

/** The event in `json`, or null when it is refused: readChatEvent() without the reason. */
export function parseChatEvent(json: string): ChatEvent | null {
  const ev = readChatEvent(json);
  return typeof ev === 'string' ? null : ev;
}
