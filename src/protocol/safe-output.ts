/**
 * The parent's last check on everything it sends as text, whatever made it: a line
 * from a child, a notice, or a name another server sent through Redis. What may
 * reach a terminal is defined once, in text.ts; this walks UTF-8 bytes against it.
 */
import { decodeAt, isUnsafeCodePoint } from './text.js';

/**
 * The length of the valid UTF-8 sequence at `bytes[at]` (a byte of 0x80 or more), or 0
 * when it is not one: a stray continuation byte, an overlong form, a surrogate, past
 * U+10FFFF, or cut short.
 */
function utf8Length(bytes: Uint8Array, at: number): number {
  const b0 = bytes[at] ?? 0;
  const b1 = bytes[at + 1] ?? 0;
  const cont = (b: number): boolean => (b & 0xc0) === 0x80;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(b1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const low = b0 === 0xe0 ? 0xa0 : 0x80;
    const high = b0 === 0xed ? 0x9f : 0xbf;
    return b1 >= low && b1 <= high && cont(bytes[at + 2] ?? 0) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const low = b0 === 0xf0 ? 0x90 : 0x80;
    const high = b0 === 0xf4 ? 0x8f : 0xbf;
    return b1 >= low && b1 <= high && cont(bytes[at + 2] ?? 0) && cont(bytes[at + 3] ?? 0) ? 4 : 0;
  }
  return 0;
}

/**
 * How many bytes at `bytes[at]` may go to a terminal (printable ASCII, LF, CR before LF,
 * a valid UTF-8 character isUnsafeCodePoint() does not refuse), or 0 when the byte
 * there may not.
 */
function safeLength(bytes: Uint8Array, at: number): number {
  const b = bytes[at] ?? 0;
  if ((b >= 0x20 && b < 0x7f) || b === 0x0a) return 1;
  if (b === 0x0d) return bytes[at + 1] === 0x0a ? 1 : 0;
  if (b < 0x80) return 0;
  const length = utf8Length(bytes, at);
  return length > 0 && !isUnsafeCodePoint(decodeAt(bytes, at)) ? length : 0;
}

/**
 * The last check on what the server sends as text, whatever made it: `data` itself
 * when every byte may reach a terminal (the common case: one pass, nothing copied),
 * else a copy without the bytes that may not. What is refused: every control byte but
 * LF and a CR before LF (so no ESC, hence no escape sequence), DEL, bytes that are not
 * UTF-8, and what isUnsafeCodePoint() refuses (C1 controls, bidirectional overrides,
 * invisible format characters). The children's line editor lets none of these through;
 * this is for a path that might, by a bug here or a forgery from Redis.
 */
export function safeOutput(data: Buffer): Buffer {
  let at = 0;
  while (at < data.length) {
    const b = data[at] ?? 0;
    if ((b >= 0x20 && b < 0x7f) || b === 0x0a) {
      at++; // printable ASCII: most of every line, checked here without a call
      continue;
    }
    const n = safeLength(data, at);
    if (n === 0) break;
    at += n;
  }
  if (at >= data.length) return data;
  const copy = Buffer.allocUnsafe(data.length);
  let used = data.copy(copy, 0, 0, at);
  while (at < data.length) {
    const n = safeLength(data, at);
    if (n === 0) {
      at++;
      continue;
    }
    used += data.copy(copy, used, at, at + n);
    at += n;
  }
  return copy.subarray(0, used);
}
