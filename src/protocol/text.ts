/**
 * What text may reach someone else's terminal: the one definition, used by the
 * children's line editor (which strips these) and by the cluster code (which refuses
 * what another server sends with them).
 */

/**
 * Code points above ASCII that steer a terminal or reorder text rather than show a
 * glyph: C1 controls (U+0080-U+009F, which include a one-byte CSI), bidirectional
 * marks, overrides and isolates, and the line/paragraph separators.
 */
export function isInvisibleControl(cp: number): boolean {
  return (
    (cp >= 0x80 && cp <= 0x9f) ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x200e ||
    cp === 0x200f ||
    cp === 0x061c
  );
}

/** Any control character (C0, DEL, C1) or invisible steering code point. */
export function isUnsafeCodePoint(cp: number): boolean {
  return cp < 0x20 || cp === 0x7f || isInvisibleControl(cp);
}

/** True when `text` holds a code point that isUnsafeCodePoint() refuses. */
export function hasUnsafeText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (isUnsafeCodePoint(text.codePointAt(i) ?? 0)) return true;
  }
  return false;
}
