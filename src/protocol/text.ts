/**
 * What text may reach someone else's terminal: the one definition, used by the
 * children's line editor (which strips what it refuses, through a TextFilter), by
 * the cluster code (which refuses what another server sends with it: hasUnsafeText()),
 * and by the parent's last check on everything it sends as text (safe-output.ts).
 *
 * Refused: control characters, code points that steer a terminal or reorder text,
 * invisible format characters (a zero-width joiner only outside an emoji sequence),
 * and combining marks past MAX_COMBINING_MARKS on one character. Everything here is
 * numbers and tables made once: the child's hot path allocates nothing.
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

/** ZERO WIDTH JOINER: kept only between two emoji (a family, a profession, a rainbow flag). */
export const ZWJ = 0x200d;
/** VARIATION SELECTOR-16: "show the emoji form" (a combining mark, so capped like one). */
const VS16 = 0xfe0f;

/**
 * Invisible format characters: what Unicode's Default_Ignorable_Code_Point property
 * lists (DerivedCoreProperties.txt: "should be rendered invisibly"), less its combining
 * marks (variation selectors and the like, capped instead), plus the interlinear
 * annotation characters U+FFF9-U+FFFB. Each shows nothing, so it can hide text from a
 * reader or a filter, make two names look alike, or carry a hidden message: the
 * zero-width space, (non-)joiner and word joiner (U+200B-U+200D, U+2060-U+2064), the
 * BOM (U+FEFF), the tag characters (U+E0000-U+E007F, "ASCII smuggling"), the Hangul
 * fillers (U+115F, U+1160, U+3164, U+FFA0), the soft hyphen, the Mongolian vowel
 * separator, the deprecated format controls U+206A-U+206F, and the shorthand and
 * musical format controls. (The zero-width non-joiner of Persian and Indic text goes
 * too; its words stay readable without it.)
 */
export function isInvisibleFormat(cp: number): boolean {
  if (cp < 0xad) return false;
  if (cp < 0x10000) {
    return (
      cp === 0xad ||
      cp === 0x115f ||
      cp === 0x1160 ||
      cp === 0x180e ||
      (cp >= 0x200b && cp <= 0x200d) ||
      (cp >= 0x2060 && cp <= 0x206f) ||
      cp === 0x3164 ||
      cp === 0xfeff ||
      cp === 0xffa0 ||
      (cp >= 0xfff0 && cp <= 0xfffb)
    );
  }
  return (
    (cp >= 0x1bca0 && cp <= 0x1bca3) ||
    (cp >= 0x1d173 && cp <= 0x1d17a) ||
    (cp >= 0xe0000 && cp <= 0xe0fff && !(cp >= 0xe0100 && cp <= 0xe01ef))
  );
}

/** Any control character (C0, DEL, C1), steering code point or invisible format character, wherever it is (a ZWJ depends on where: see TextFilter). */
export function isUnsafeCodePoint(cp: number): boolean {
  return cp < 0x20 || cp === 0x7f || isInvisibleControl(cp) || (cp !== ZWJ && isInvisibleFormat(cp));
}

// ----------------------------------------------------------- Unicode tables

/**
 * The Unicode tables the filter needs, as sorted hexadecimal ranges (`first-last`, or one
 * code point): General_Category Mark (Mn, Mc, Me: /\p{M}/u) and Extended_Pictographic
 * (emoji and the pictographs that may become emoji, UTS #51). Unicode 17.0, written out
 * from Node's own /\p{...}/u (ICU 78.2) rather than read at start-up: every process and
 * every server of a cluster, whatever its Node, then agrees on what is unsafe, and loading
 * costs nothing. test/unit/text.test.ts checks them against the running Node's Unicode,
 * and prints them anew when a new Unicode version adds code points.
 */
export const UNICODE_VERSION = '17.0';
export const MARK_RANGES = `
  300-36f,483-489,591-5bd,5bf,5c1-5c2,5c4-5c5,5c7,610-61a,64b-65f,670,6d6-6dc,6df-6e4,6e7-6e8,6ea-6ed,711,
  730-74a,7a6-7b0,7eb-7f3,7fd,816-819,81b-823,825-827,829-82d,859-85b,897-89f,8ca-8e1,8e3-903,93a-93c,93e-94f,
  951-957,962-963,981-983,9bc,9be-9c4,9c7-9c8,9cb-9cd,9d7,9e2-9e3,9fe,a01-a03,a3c,a3e-a42,a47-a48,a4b-a4d,a51,
  a70-a71,a75,a81-a83,abc,abe-ac5,ac7-ac9,acb-acd,ae2-ae3,afa-aff,b01-b03,b3c,b3e-b44,b47-b48,b4b-b4d,b55-b57,
  b62-b63,b82,bbe-bc2,bc6-bc8,bca-bcd,bd7,c00-c04,c3c,c3e-c44,c46-c48,c4a-c4d,c55-c56,c62-c63,c81-c83,cbc,
  cbe-cc4,cc6-cc8,cca-ccd,cd5-cd6,ce2-ce3,cf3,d00-d03,d3b-d3c,d3e-d44,d46-d48,d4a-d4d,d57,d62-d63,d81-d83,dca,
  dcf-dd4,dd6,dd8-ddf,df2-df3,e31,e34-e3a,e47-e4e,eb1,eb4-ebc,ec8-ece,f18-f19,f35,f37,f39,f3e-f3f,f71-f84,
  f86-f87,f8d-f97,f99-fbc,fc6,102b-103e,1056-1059,105e-1060,1062-1064,1067-106d,1071-1074,1082-108d,108f,
  109a-109d,135d-135f,1712-1715,1732-1734,1752-1753,1772-1773,17b4-17d3,17dd,180b-180d,180f,1885-1886,18a9,
  1920-192b,1930-193b,1a17-1a1b,1a55-1a5e,1a60-1a7c,1a7f,1ab0-1add,1ae0-1aeb,1b00-1b04,1b34-1b44,1b6b-1b73,
  1b80-1b82,1ba1-1bad,1be6-1bf3,1c24-1c37,1cd0-1cd2,1cd4-1ce8,1ced,1cf4,1cf7-1cf9,1dc0-1dff,20d0-20f0,
  2cef-2cf1,2d7f,2de0-2dff,302a-302f,3099-309a,a66f-a672,a674-a67d,a69e-a69f,a6f0-a6f1,a802,a806,a80b,
  a823-a827,a82c,a880-a881,a8b4-a8c5,a8e0-a8f1,a8ff,a926-a92d,a947-a953,a980-a983,a9b3-a9c0,a9e5,aa29-aa36,
  aa43,aa4c-aa4d,aa7b-aa7d,aab0,aab2-aab4,aab7-aab8,aabe-aabf,aac1,aaeb-aaef,aaf5-aaf6,abe3-abea,abec-abed,
  fb1e,fe00-fe0f,fe20-fe2f,101fd,102e0,10376-1037a,10a01-10a03,10a05-10a06,10a0c-10a0f,10a38-10a3a,10a3f,
  10ae5-10ae6,10d24-10d27,10d69-10d6d,10eab-10eac,10efa-10eff,10f46-10f50,10f82-10f85,11000-11002,11038-11046,
  11070,11073-11074,1107f-11082,110b0-110ba,110c2,11100-11102,11127-11134,11145-11146,11173,11180-11182,
  111b3-111c0,111c9-111cc,111ce-111cf,1122c-11237,1123e,11241,112df-112ea,11300-11303,1133b-1133c,1133e-11344,
  11347-11348,1134b-1134d,11357,11362-11363,11366-1136c,11370-11374,113b8-113c0,113c2,113c5,113c7-113ca,
  113cc-113d0,113d2,113e1-113e2,11435-11446,1145e,114b0-114c3,115af-115b5,115b8-115c0,115dc-115dd,11630-11640,
  116ab-116b7,1171d-1172b,1182c-1183a,11930-11935,11937-11938,1193b-1193e,11940,11942-11943,119d1-119d7,
  119da-119e0,119e4,11a01-11a0a,11a33-11a39,11a3b-11a3e,11a47,11a51-11a5b,11a8a-11a99,11b60-11b67,11c2f-11c36,
  11c38-11c3f,11c92-11ca7,11ca9-11cb6,11d31-11d36,11d3a,11d3c-11d3d,11d3f-11d45,11d47,11d8a-11d8e,11d90-11d91,
  11d93-11d97,11ef3-11ef6,11f00-11f01,11f03,11f34-11f3a,11f3e-11f42,11f5a,13440,13447-13455,1611e-1612f,
  16af0-16af4,16b30-16b36,16f4f,16f51-16f87,16f8f-16f92,16fe4,16ff0-16ff1,1bc9d-1bc9e,1cf00-1cf2d,1cf30-1cf46,
  1d165-1d169,1d16d-1d172,1d17b-1d182,1d185-1d18b,1d1aa-1d1ad,1d242-1d244,1da00-1da36,1da3b-1da6c,1da75,1da84,
  1da9b-1da9f,1daa1-1daaf,1e000-1e006,1e008-1e018,1e01b-1e021,1e023-1e024,1e026-1e02a,1e08f,1e130-1e136,1e2ae,
  1e2ec-1e2ef,1e4ec-1e4ef,1e5ee-1e5ef,1e6e3,1e6e6,1e6ee-1e6ef,1e6f5,1e8d0-1e8d6,1e944-1e94a,e0100-e01ef`;
export const PICTOGRAPH_RANGES = `
  a9,ae,203c,2049,2122,2139,2194-2199,21a9-21aa,231a-231b,2328,23cf,23e9-23f3,23f8-23fa,24c2,25aa-25ab,25b6,
  25c0,25fb-25fe,2600-2604,260e,2611,2614-2615,2618,261d,2620,2622-2623,2626,262a,262e-262f,2638-263a,2640,
  2642,2648-2653,265f-2660,2663,2665-2666,2668,267b,267e-267f,2692-2697,2699,269b-269c,26a0-26a1,26a7,
  26aa-26ab,26b0-26b1,26bd-26be,26c4-26c5,26c8,26ce-26cf,26d1,26d3-26d4,26e9-26ea,26f0-26f5,26f7-26fa,26fd,
  2702,2705,2708-270d,270f,2712,2714,2716,271d,2721,2728,2733-2734,2744,2747,274c,274e,2753-2755,2757,
  2763-2764,2795-2797,27a1,27b0,27bf,2934-2935,2b05-2b07,2b1b-2b1c,2b50,2b55,3030,303d,3297,3299,1f004,
  1f02c-1f02f,1f094-1f09f,1f0af-1f0b0,1f0c0,1f0cf-1f0d0,1f0f6-1f0ff,1f170-1f171,1f17e-1f17f,1f18e,1f191-1f19a,
  1f1ae-1f1e5,1f201-1f20f,1f21a,1f22f,1f232-1f23a,1f23c-1f23f,1f249-1f25f,1f266-1f321,1f324-1f393,1f396-1f397,
  1f399-1f39b,1f39e-1f3f0,1f3f3-1f3f5,1f3f7-1f3fa,1f400-1f4fd,1f4ff-1f53d,1f549-1f54e,1f550-1f567,1f56f-1f570,
  1f573-1f57a,1f587,1f58a-1f58d,1f590,1f595-1f596,1f5a4-1f5a5,1f5a8,1f5b1-1f5b2,1f5bc,1f5c2-1f5c4,1f5d1-1f5d3,
  1f5dc-1f5de,1f5e1,1f5e3,1f5e8,1f5ef,1f5f3,1f5fa-1f64f,1f680-1f6c5,1f6cb-1f6d2,1f6d5-1f6e5,1f6e9,1f6eb-1f6f0,
  1f6f3-1f6ff,1f7da-1f7ff,1f80c-1f80f,1f848-1f84f,1f85a-1f85f,1f888-1f88f,1f8ae-1f8af,1f8bc-1f8bf,1f8c2-1f8cf,
  1f8d9-1f8ff,1f90c-1f93a,1f93c-1f945,1f947-1f9ff,1fa58-1fa5f,1fa6e-1faff,1fc00-1fffd`;

/** `first-last,...` as [first, last] pairs of numbers, searched without a string or a regular expression per code point. */
function parseRanges(text: string): Uint32Array {
  const items = text.replace(/\s+/g, '').split(',');
  const pairs = new Uint32Array(items.length * 2);
  items.forEach((item, i) => {
    const [first = '0', last = first] = item.split('-');
    pairs[2 * i] = parseInt(first, 16);
    pairs[2 * i + 1] = parseInt(last, 16);
  });
  return pairs;
}

const MARKS = parseRanges(MARK_RANGES);
const PICTOGRAPHS = parseRanges(PICTOGRAPH_RANGES);

function inRanges(ranges: Uint32Array, cp: number): boolean {
  let lo = 0;
  let hi = (ranges.length >> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < (ranges[2 * mid] ?? 0)) hi = mid - 1;
    else if (cp > (ranges[2 * mid + 1] ?? 0)) lo = mid + 1;
    else return true;
  }
  return false;
}

/** A combining mark (/\p{M}/u), without a string: none lies below U+0300. */
export function isCombiningMark(cp: number): boolean {
  return cp >= 0x300 && inRanges(MARKS, cp);
}

/** An emoji or pictograph (/\p{Extended_Pictographic}/u), without a string: none lies below U+00A9. */
export function isPictograph(cp: number): boolean {
  return cp >= 0xa9 && inRanges(PICTOGRAPHS, cp);
}

/** The skin-tone modifiers U+1F3FB-U+1F3FF (👍🏽): part of the emoji before them. */
function isEmojiModifier(cp: number): boolean {
  return cp >= 0x1f3fb && cp <= 0x1f3ff;
}

// -------------------------------------------------------------- the filter

/**
 * The most combining marks one character keeps; the rest are dropped. Living scripts
 * stack at most three or so on a letter: Vietnamese a base and two diacritics, Thai a
 * vowel and a tone mark, pointed Hebrew a dagesh, a vowel and a cantillation mark, an
 * emoji keycap VS16 and U+20E3. Four keeps all of that, while "Zalgo" text (hundreds of
 * marks on one letter, drawn over the lines above and below on everyone's screen) is cut
 * to four, and so is a message hidden in variation selectors (U+E0100-U+E01EF: 256
 * invisible marks, one per byte, after one visible character).
 */
export const MAX_COMBINING_MARKS = 4;

/** TextFilter.next(): what to do with a code point. */
export const Verdict = {
  /** Leave it out. */
  Drop: 0,
  /** Keep it. */
  Keep: 1,
  /** A ZWJ after an emoji: held until the next code point says whether it joins two emoji. */
  Hold: 2,
  /** Keep the held ZWJ, then this code point (an emoji). */
  JoinAndKeep: 3,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/**
 * Decides, one code point at a time and in order, what of a line's text is kept. Its
 * state is what the rules look back at: how many marks the current character carries,
 * whether the last kept code point ends an emoji, and a held ZWJ. Numbers only: the
 * child keeps one per connection and allocates nothing.
 */
export class TextFilter {
  private marks = 0;
  /** The last kept code point is an emoji: a pictograph, maybe with VS16 and a skin tone after it. */
  private afterEmoji = false;
  private heldJoiner = false;

  /** A new line: nothing before it. */
  reset(): void {
    this.marks = 0;
    this.afterEmoji = false;
    this.heldJoiner = false;
  }

  /** A ZWJ is held: it goes out only with an emoji after it (Verdict.JoinAndKeep). */
  get holding(): boolean {
    return this.heldJoiner;
  }

  /** Forgets a held ZWJ (the line is erased into, or ends). */
  dropHeld(): void {
    this.heldJoiner = false;
  }

  next(cp: number): Verdict {
    const held = this.heldJoiner;
    this.heldJoiner = false;
    if (cp < 0x7f && cp >= 0x20) {
      // ASCII: a base character, never an emoji (#, * and digits are only keycap bases).
      this.marks = 0;
      this.afterEmoji = false;
      return Verdict.Keep;
    }
    if (cp === ZWJ) {
      if (!this.afterEmoji) return Verdict.Drop;
      this.heldJoiner = true;
      return Verdict.Hold;
    }
    if (isUnsafeCodePoint(cp)) return Verdict.Drop;
    if (isCombiningMark(cp)) {
      if (this.marks >= MAX_COMBINING_MARKS) return Verdict.Drop;
      this.marks++;
      if (cp !== VS16) this.afterEmoji = false;
      return Verdict.Keep;
    }
    this.marks = 0;
    if (isPictograph(cp)) {
      this.afterEmoji = true;
      return held ? Verdict.JoinAndKeep : Verdict.Keep;
    }
    this.afterEmoji = this.afterEmoji && isEmojiModifier(cp);
    return Verdict.Keep;
  }

  /**
   * Sets the state from the end of text already kept: the UTF-8 bytes `bytes[from, to)`
   * (after an erase, the line editor's line). Reads back a few characters at most.
   */
  resync(bytes: Uint8Array, from: number, to: number): void {
    this.reset();
    // Marks on the last character: count back up to the cap.
    let end = to;
    let start = startOfLast(bytes, from, end);
    while (start >= 0 && this.marks < MAX_COMBINING_MARKS && isCombiningMark(decodeAt(bytes, start))) {
      this.marks++;
      end = start;
      start = startOfLast(bytes, from, end);
    }
    // An emoji at the end: a pictograph, then only VS16 and skin tones (a few at most).
    end = to;
    for (let steps = 0; steps < 8; steps++) {
      start = startOfLast(bytes, from, end);
      if (start < 0) return;
      const cp = decodeAt(bytes, start);
      if (isPictograph(cp)) {
        this.afterEmoji = true;
        return;
      }
      if (cp !== VS16 && !isEmojiModifier(cp)) return;
      end = start;
    }
  }
}

/** Where the last UTF-8 character of `bytes[from, to)` starts, or -1 when there is none. */
export function startOfLast(bytes: Uint8Array, from: number, to: number): number {
  let at = to - 1;
  while (at > from && ((bytes[at] ?? 0) & 0xc0) === 0x80) at--;
  return at >= from ? at : -1;
}

/** The code point of the (valid) UTF-8 character at `bytes[at]`. */
export function decodeAt(bytes: Uint8Array, at: number): number {
  const b0 = bytes[at] ?? 0;
  if (b0 < 0x80) return b0;
  const b1 = (bytes[at + 1] ?? 0) & 0x3f;
  if (b0 < 0xe0) return ((b0 & 0x1f) << 6) | b1;
  const b2 = (bytes[at + 2] ?? 0) & 0x3f;
  if (b0 < 0xf0) return ((b0 & 0x0f) << 12) | (b1 << 6) | b2;
  return ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | ((bytes[at + 3] ?? 0) & 0x3f);
}

const check = new TextFilter();

/**
 * True when `text` holds anything the line editor would leave out: a code point that
 * isUnsafeCodePoint() refuses, a ZWJ that does not join two emoji, or a combining mark
 * past the cap. (A line the children made passes; another server's forgery does not.)
 */
export function hasUnsafeText(text: string): boolean {
  check.reset();
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i) ?? 0;
    if (cp > 0xffff) i++;
    const held = check.holding;
    const verdict = check.next(cp);
    if (verdict === Verdict.Drop) return true;
    if (held && verdict !== Verdict.JoinAndKeep) return true; // the held ZWJ joined nothing
  }
  return check.holding;
}
