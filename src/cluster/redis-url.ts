/**
 * The Redis URL holds a secret (redis://user:PASSWORD@host): these say whether it
 * does, and write it for a log line or an error message without it. Pure.
 */

/** What stands for a password in anything shown. */
const HIDDEN = '***';

/** Whether `url` carries a password (redis://:pw@host or redis://user:pw@host). */
export function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return /\/\/[^/@]*:[^/@]*@/.test(url);
  }
}

/** `url` with its password, if any, replaced by ***: the only form of it a log line or message may hold. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = HIDDEN;
    return parsed.toString();
  } catch {
    // Not a URL at all: keep its scheme and what follows the last @, hide the rest.
    return url.replace(/^([a-z]+:\/\/)?.*@/s, (_, scheme: string | undefined) => `${scheme ?? ''}${HIDDEN}@`);
  }
}
