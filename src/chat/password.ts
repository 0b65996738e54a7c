/**
 * What a password must be. Hashing it is the hasher process's job
 * (src/hasher/scrypt.ts): the chat runs on the server's loop and never hashes.
 */

/** The longest password taken, in bytes: a longer one costs scrypt more for nothing. */
export const MAX_PASSWORD_BYTES = 256;
export const MIN_PASSWORD_LENGTH = 8;

/** Null when `password` may be used, else why not. */
export function checkPassword(password: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `A password has at least ${MIN_PASSWORD_LENGTH} characters.`;
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return `A password has at most ${MAX_PASSWORD_BYTES} bytes.`;
  return null;
}

/** The most memory one scrypt call may take, in bytes: the hasher refuses a stored hash that wants more. */
export const SCRYPT_MAX_MEMORY_BYTES = 64 * 1024 * 1024;

/** The memory scrypt(N, r, p) takes, as OpenSSL counts it against `maxmem`: its V and B arrays. */
export function scryptMemoryBytes(n: number, r: number, p: number): number {
  return 128 * r * (n + 2) + 128 * r * p;
}
