/**
 * Password hashes: scrypt (node:crypto) with a random salt, stored with its
 * parameters (`scrypt$N$r$p$salt$hash`, base64) so they can be raised later without
 * invalidating old hashes. Compared in constant time. Each call costs tens of
 * milliseconds of CPU and 16 MiB, so only the hasher process (hasher-process.ts) and
 * the admin CLI call them, never the server's loop (a lint rule holds that line).
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { SCRYPT_MAX_MEMORY_BYTES, scryptMemoryBytes } from '../chat/password.js';

const COST_N = 2 ** 14;
const BLOCK_SIZE_R = 8;
const PARALLEL_P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

export function hashPassword(password: string): string {
  const salt = randomBytes(SALT_BYTES);
  const key = scryptSync(password, salt, KEY_BYTES, { N: COST_N, r: BLOCK_SIZE_R, p: PARALLEL_P, maxmem: SCRYPT_MAX_MEMORY_BYTES });
  return `scrypt$${COST_N}$${BLOCK_SIZE_R}$${PARALLEL_P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `password` matches `stored`; false for a hash in a form this code does not know. */
export function verifyPassword(password: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every((v) => Number.isInteger(v) && v > 0) || scryptMemoryBytes(n, r, p) > SCRYPT_MAX_MEMORY_BYTES) return false;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const expected = Buffer.from(parts[5] ?? '', 'base64');
  if (expected.length === 0) return false;
  const key = scryptSync(password, salt, expected.length, { N: n, r, p, maxmem: SCRYPT_MAX_MEMORY_BYTES });
  return timingSafeEqual(key, expected);
}
