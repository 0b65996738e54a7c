/**
 * What the parent and its hasher process (hasher-process.ts) say to each other. Each
 * message is one pipe record of type `hasher` holding JSON: requests on the hasher's
 * own pipe, answers on the shared pipe followed by SIGUSR1, like every child's records.
 * A request carries a password: it exists only in this pipe between two of our own
 * processes, and is never logged or traced.
 */
import { encodeRecord, RecordType } from '../protocol/record.js';

/** The hasher's name in ps and /proc/PID/comm. */
export const HASHER_NAME = 'posix-hasher';

/** Parent -> hasher. `id` names the request in its answer. */
export type ToHasher = { id: number; op: 'hash'; password: string } | { id: number; op: 'verify'; password: string; stored: string };

/** Hasher -> parent. */
export type FromHasher =
  /** Started, named, and reading its pipe. */
  | { t: 'ready' }
  /** The hash of request `id`'s password, with a fresh salt. */
  | { t: 'hashed'; id: number; hash: string }
  /** Whether request `id`'s password matches its stored hash. */
  | { t: 'verified'; id: number; ok: boolean }
  /** Request `id` could not be done (an error in scrypt). */
  | { t: 'failed'; id: number };

/** One pipe record carrying `message`, from `pid`. Throws a RangeError when it does not fit in one. */
export function encodeHasherRecord(pid: number, message: ToHasher | FromHasher): Buffer {
  return encodeRecord(RecordType.hasher, pid, Buffer.from(JSON.stringify(message)));
}

function parse(data: Uint8Array): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A request, from a `hasher` record's data; null when it is not one. */
export function decodeToHasher(data: Uint8Array): ToHasher | null {
  const value = parse(data);
  if (value === null || !Number.isSafeInteger(value.id) || typeof value.password !== 'string') return null;
  const { id, password, stored } = value as { id: number; password: string; stored: unknown };
  if (value.op === 'hash') return { id, op: 'hash', password };
  if (value.op === 'verify' && typeof stored === 'string') return { id, op: 'verify', password, stored };
  return null;
}

/** An answer, from a `hasher` record's data; null when it is not one. */
export function decodeFromHasher(data: Uint8Array): FromHasher | null {
  const value = parse(data);
  if (value?.t === 'ready') return { t: 'ready' };
  if (value === null || !Number.isSafeInteger(value.id)) return null;
  const id = value.id as number;
  if (value.t === 'hashed' && typeof value.hash === 'string') return { t: 'hashed', id, hash: value.hash };
  if (value.t === 'verified' && typeof value.ok === 'boolean') return { t: 'verified', id, ok: value.ok };
  if (value.t === 'failed') return { t: 'failed', id };
  return null;
}
