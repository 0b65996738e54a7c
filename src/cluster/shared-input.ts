/**
 * What a server accepts of the shared data in Redis (accounts, bans, mutes, ignores,
 * topics, audit entries). Anyone who can write to the Redis can write anything there,
 * so each hash field and value is held to the rules the server's own commands obey:
 * names, roles, the password hash's form and cost, ban targets (src/chat/cidr.ts),
 * times, sizes. What fails is refused whole, with the reason, never repaired. Pure.
 */
import { parseBlock } from '../chat/cidr.js';
import { SCRYPT_MAX_MEMORY_BYTES, scryptMemoryBytes } from '../chat/password.js';
import { MAX_TOPIC_LENGTH } from '../chat/personal.js';
import { checkNick, checkRoom } from '../chat/rules.js';
import { hasUnsafeText } from '../protocol/text.js';
import { ROLES, type Account, type AuditEntry, type Ban, type Mute, type SharedItem } from '../store/store.js';

/** The longest value read from a shared hash or the audit list, in bytes: a real one is a few hundred. */
export const MAX_SHARED_VALUE_BYTES = 2048;
/** The longest reason (of a ban, an audit entry) taken from Redis: what /ban keeps. */
export const MAX_SHARED_REASON_CHARS = 200;
/** The longest audit action or target taken (`ban 10.0.0.0/8 for 7d00h`), in characters. */
const MAX_AUDIT_WORDS_CHARS = 120;
/** The costliest scrypt parameters a stored hash may ask for: the password hasher checks one login at a time, and everyone's waits. */
const MAX_SCRYPT_LOG2_N = 16;
const MAX_SCRYPT_R = 16;
const MAX_SCRYPT_P = 4;
const HASH_PATTERN = /^scrypt\$(\d{1,6})\$(\d{1,2})\$(\d)\$[A-Za-z0-9+/]{8,88}={0,2}\$[A-Za-z0-9+/]{16,88}={0,2}$/;

/** The kinds of shared data, as the change stream names them. */
export type SharedKind = Exclude<SharedItem['c'], 'audit'>;
export const SHARED_KINDS: readonly SharedKind[] = ['account', 'ban', 'mute', 'ignore', 'topic'];

const isName = (value: unknown): value is string => typeof value === 'string' && checkNick(value) === null;
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isUntil = (value: unknown): value is number | null => value === null || isTime(value);
/** Free text shown to people: bounded, and only what a child's line editor lets through. */
const isText = (value: unknown, maxChars: number): value is string => typeof value === 'string' && value.length <= maxChars && !hasUnsafeText(value);

/** Whether `hash` is a password hash this server makes, at a cost it will pay. */
export function isPasswordHash(hash: unknown): hash is string {
  if (typeof hash !== 'string') return false;
  const m = HASH_PATTERN.exec(hash);
  if (m === null) return false;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const log2 = Math.log2(n);
  const inRange = Number.isInteger(log2) && log2 >= 1 && log2 <= MAX_SCRYPT_LOG2_N && r >= 1 && r <= MAX_SCRYPT_R && p >= 1 && p <= MAX_SCRYPT_P;
  return inRange && scryptMemoryBytes(n, r, p) <= SCRYPT_MAX_MEMORY_BYTES; // what the hasher would refuse to compute
}

function parseObject(value: string): Record<string, unknown> | string {
  if (Buffer.byteLength(value) > MAX_SHARED_VALUE_BYTES) return 'too big';
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : 'not a JSON object';
  } catch {
    return 'not JSON';
  }
}

/** An account from its field (the lower-cased name) and JSON value, or why it is refused. */
export function readAccount(field: string, value: string): Account | string {
  const v = parseObject(value);
  if (typeof v === 'string') return v;
  if (!isName(v.name) || v.name.toLowerCase() !== field) return 'a bad name';
  if (!ROLES.includes(v.role as Account['role'])) return `a bad role for ${v.name}`;
  if (!isPasswordHash(v.hash)) return `a bad password hash for ${v.name}`;
  if (!isTime(v.created)) return `a bad time for ${v.name}`;
  return { name: v.name, role: v.role as Account['role'], hash: v.hash, created: v.created };
}

/** A ban from its field (its target) and JSON value, or why it is refused. */
export function readBan(field: string, value: string): Ban | string {
  const v = parseObject(value);
  if (typeof v === 'string') return v;
  if (v.target !== field) return 'a target that is not its key';
  if (v.kind === 'address') {
    if (typeof v.target !== 'string' || parseBlock(v.target)?.text !== v.target) return 'a bad address or block';
  } else if (v.kind !== 'name' || !isName(v.target) || v.target !== v.target.toLowerCase()) return 'a bad name';
  if (!isUntil(v.until) || !isTime(v.at) || !isName(v.by) || !isText(v.reason, MAX_SHARED_REASON_CHARS)) return `bad details for ${v.target}`;
  return { target: v.target, kind: v.kind, until: v.until, by: v.by, reason: v.reason, at: v.at };
}

/** A mute from its field (the lower-cased name) and JSON value, or why it is refused. */
export function readMute(field: string, value: string): Mute | string {
  const v = parseObject(value);
  if (typeof v === 'string') return v;
  if (!isName(v.name) || v.name.toLowerCase() !== field) return 'a bad name';
  if (!isUntil(v.until)) return `a bad time for ${v.name}`;
  return { name: v.name, until: v.until };
}

/** An ignore from its field (`name ignored`, lower-cased), or why it is refused. */
export function readIgnore(field: string): { name: string; ignored: string } | string {
  const [name, ignored, more] = field.split(' ');
  if (more !== undefined || !isName(name) || !isName(ignored) || field !== field.toLowerCase()) return 'a bad pair of names';
  return { name, ignored };
}

/** A topic from its field (the room) and value, or why it is refused. */
export function readTopic(field: string, value: string): { topic: string } | string {
  if (checkRoom(field) !== null) return 'a bad room';
  if (value.trim() === '' || !isText(value, MAX_TOPIC_LENGTH)) return `a bad topic for ${field}`;
  return { topic: value };
}

/** An audit entry from its JSON, or why it is refused. */
export function readAudit(value: string): AuditEntry | string {
  const v = parseObject(value);
  if (typeof v === 'string') return v;
  if (!isTime(v.at) || !isName(v.actor)) return 'a bad time or actor';
  if (!isText(v.action, MAX_AUDIT_WORDS_CHARS) || !isText(v.target, MAX_AUDIT_WORDS_CHARS) || !isText(v.reason, MAX_SHARED_REASON_CHARS)) return 'bad words';
  return { at: v.at, actor: v.actor, action: v.action, target: v.target, reason: v.reason };
}

/**
 * The shared item a hash field and its value (null: the field is gone) stand for, or
 * why it is refused. The item says the value is deleted when the field is gone.
 */
export function readShared(kind: SharedKind, field: string, value: string | null): SharedItem | string {
  if (field.length > MAX_SHARED_VALUE_BYTES) return 'a key too long';
  switch (kind) {
    case 'account': {
      if (value === null) return isName(field) ? { c: 'account', name: field, account: null } : 'a bad name';
      const account = readAccount(field, value);
      return typeof account === 'string' ? account : { c: 'account', name: account.name, account };
    }
    case 'ban': {
      if (value === null) return field === field.toLowerCase() && (isName(field) || parseBlock(field)?.text === field) ? { c: 'ban', target: field, ban: null } : 'a bad target';
      const ban = readBan(field, value);
      return typeof ban === 'string' ? ban : { c: 'ban', target: ban.target, ban };
    }
    case 'mute': {
      if (value === null) return isName(field) ? { c: 'mute', name: field, mute: null } : 'a bad name';
      const mute = readMute(field, value);
      return typeof mute === 'string' ? mute : { c: 'mute', name: mute.name, mute };
    }
    case 'ignore': {
      const pair = readIgnore(field);
      return typeof pair === 'string' ? pair : { c: 'ignore', ...pair, on: value !== null };
    }
    case 'topic': {
      if (value === null) return checkRoom(field) === null ? { c: 'topic', room: field, topic: '' } : 'a bad room';
      const topic = readTopic(field, value);
      return typeof topic === 'string' ? topic : { c: 'topic', room: field, ...topic };
    }
  }
}

/** A change notice from the change stream: who made it, the kind and the field changed. */
export interface ChangeNotice {
  o: string;
  c: SharedKind;
  k: string;
}

/** The longest field a change notice may name, in characters: a ban's target, or two names. */
const MAX_NOTICE_FIELD_CHARS = 100;
/** A notice has three fields (o, c, k); a few more are tolerated, not read. */
const MAX_NOTICE_FIELDS = 16;

/** A change stream entry's fields (`[name, value, ...]`) as a notice, or why it is refused. */
export function readNotice(fields: readonly string[]): ChangeNotice | string {
  if (fields.length > MAX_NOTICE_FIELDS * 2) return 'too many fields';
  const entry = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) if (!entry.has(fields[i] ?? '')) entry.set(fields[i] ?? '', fields[i + 1] ?? '');
  const o = entry.get('o') ?? '';
  const c = entry.get('c') ?? '';
  const k = entry.get('k') ?? '';
  if (o !== 'cli' && !/^[0-9a-f]{12}$/.test(o)) return 'o is neither an instance id nor cli';
  const kind = SHARED_KINDS.find((known) => known === c);
  if (kind === undefined) return 'c is not a kind of shared data';
  if (k === '' || k.length > MAX_NOTICE_FIELD_CHARS) return 'k is not a field';
  return { o, c: kind, k };
}
