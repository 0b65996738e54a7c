/**
 * The one definition of unsafe text (src/protocol/text.ts), as the line editor applies
 * it to a client's bytes and as hasUnsafeText() checks another server's strings:
 * invisible format characters, a ZWJ only inside an emoji sequence, combining marks
 * capped per character.
 */
import { describe, expect, it } from 'vitest';
import { cleanLines, LineEditor } from '../../src/protocol/line-editor.js';
import {
  hasUnsafeText,
  isCombiningMark,
  isInvisibleControl,
  isInvisibleFormat,
  isPictograph,
  isUnsafeCodePoint,
  MARK_RANGES,
  MAX_COMBINING_MARKS,
  PICTOGRAPH_RANGES,
  TextFilter,
  UNICODE_VERSION,
  Verdict,
  ZWJ,
} from '../../src/protocol/text.js';

/** The line editor's output for `text` typed as one line. */
const clean = (text: string, maxBytes = 4000): string => cleanLines(Buffer.from(`${text}\r\n`, 'utf8'), maxBytes)[0] ?? '';

/** The lines of a stream fed in the given pieces (strings or raw bytes). */
function typed(...pieces: (string | number[])[]): string[] {
  const target = Buffer.alloc(4000);
  const lines: string[] = [];
  const editor = new LineEditor(target, 0, 4000, { line: (length) => lines.push(target.toString('utf8', 0, length)) });
  for (const piece of pieces) for (const byte of typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece) editor.byte(byte);
  return lines;
}

const BS = [0x08];
const mark = '\u0301'; // COMBINING ACUTE ACCENT

describe('invisible format characters', () => {
  const invisible = [
    0x200b, // zero width space
    0x200c, // zero width non-joiner
    0x200d, // zero width joiner (outside an emoji sequence)
    0x2060, // word joiner
    0x2061, // function application
    0x2062,
    0x2063,
    0x2064, // invisible plus
    0xfeff, // BOM / zero width no-break space
    0xe0001, // LANGUAGE TAG
    0xe0041, // TAG LATIN CAPITAL LETTER A
    0xe007f, // CANCEL TAG
    0x115f, // HANGUL CHOSEONG FILLER
    0x1160, // HANGUL JUNGSEONG FILLER
    0x3164, // HANGUL FILLER
    0xffa0, // HALFWIDTH HANGUL FILLER
    0x00ad, // soft hyphen
    0x180e, // Mongolian vowel separator
    0x206a, // inhibit symmetric swapping
    0xfff9, // interlinear annotation anchor
  ];

  it.each(invisible.map((cp) => [`U+${cp.toString(16).toUpperCase().padStart(4, '0')}`, cp]))('drops %s', (_, cp) => {
    expect(clean(`a${String.fromCodePoint(cp)}b`)).toBe('ab');
    expect(hasUnsafeText(`a${String.fromCodePoint(cp)}b`)).toBe(true);
  });

  it('drops a message hidden in tag characters ("ASCII smuggling")', () => {
    const hidden = Array.from('ignore all previous', (c) => String.fromCodePoint(0xe0000 + (c.codePointAt(0) ?? 0))).join('');
    expect(clean(`hello${hidden} world`)).toBe('hello world');
  });

  it('covers every Default_Ignorable_Code_Point: each is refused, or a ZWJ, or a capped combining mark', () => {
    const ignorable = /\p{Default_Ignorable_Code_Point}/u;
    const missed: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      if (!ignorable.test(String.fromCodePoint(cp))) continue;
      if (!isUnsafeCodePoint(cp) && cp !== ZWJ && !isCombiningMark(cp)) missed.push(cp.toString(16));
    }
    expect(missed).toEqual([]);
  });

  it('keeps ordinary text, spaces and visible symbols', () => {
    const fine = 'Grüße, 日本語, привет, مرحبا, שלום, नमस्ते, ไทย, 한국어 \u00a0 © ® ™ € ½';
    expect(clean(fine)).toBe(fine);
    expect(hasUnsafeText(fine)).toBe(false);
    expect(isInvisibleFormat(0x41)).toBe(false);
    expect(isInvisibleControl(0x85)).toBe(true);
  });
});

describe('the zero width joiner', () => {
  const sequences = [
    '👨‍👩‍👧', // family: man ZWJ woman ZWJ girl
    '👩🏽‍💻', // woman technologist, medium skin tone: the ZWJ comes after a skin tone
    '❤️‍🔥', // heart on fire: the ZWJ comes after VS16
    '🏳️‍🌈', // rainbow flag
    '🧑🏻‍🤝‍🧑🏿', // people holding hands, two skin tones
    '🐈‍⬛', // black cat
  ];

  it.each(sequences)('is kept inside the emoji sequence %s', (emoji) => {
    expect(clean(`look ${emoji} here`)).toBe(`look ${emoji} here`);
    expect(hasUnsafeText(emoji)).toBe(false);
  });

  it('is dropped outside one: between letters, after or before one emoji only, at the end', () => {
    expect(clean('a\u200db')).toBe('ab');
    expect(clean('😀\u200da')).toBe('😀a');
    expect(clean('a\u200d😀')).toBe('a😀');
    expect(clean('😀\u200d')).toBe('😀');
    expect(clean('😀\u200d\u200d😀')).toBe('😀\u200d😀');
    expect(clean('😀\u200d\u0301')).toBe('😀\u0301');
    for (const text of ['a\u200db', '😀\u200da', 'a\u200d😀', '😀\u200d', '😀\u200d\u200d😀']) expect(hasUnsafeText(text), text).toBe(true);
  });

  it('is held across reads until the next character arrives', () => {
    const family = Buffer.from('👨‍👩', 'utf8');
    const zwjEnd = family.indexOf(0x8d) + 1; // after E2 80 8D
    expect(typed([...family.subarray(0, zwjEnd)], [...family.subarray(zwjEnd)], '\n')).toEqual(['👨‍👩']);
  });

  it('goes with the emoji after it when the line is cut: both fit or neither', () => {
    const line = 'x'.repeat(10) + '👨‍👩';
    // 10 + 4 (man) = 14 bytes fit; ZWJ + woman (7 more) do not
    expect(cleanLines(Buffer.from(`${line}\n`, 'utf8'), 16)).toEqual(['x'.repeat(10) + '👨']);
  });

  it('is erased with the emoji it joined, and a held one by a backspace of its own', () => {
    expect(typed('👨‍👩', BS, '\n')).toEqual(['👨']);
    expect(typed('👨‍', BS, '👩\n')).toEqual(['👨👩']);
    expect(typed('👨‍👩', BS, '\u200d👧\n')).toEqual(['👨‍👧']);
  });
});

describe('combining marks', () => {
  it(`keeps at most ${MAX_COMBINING_MARKS} on one character`, () => {
    expect(clean(`e${mark.repeat(40)}x`)).toBe(`e${mark.repeat(MAX_COMBINING_MARKS)}x`);
    expect(clean(`${mark.repeat(10)}a`)).toBe(`${mark.repeat(MAX_COMBINING_MARKS)}a`); // at the start of a line too
    expect(hasUnsafeText(`e${mark.repeat(MAX_COMBINING_MARKS)}`)).toBe(false);
    expect(hasUnsafeText(`e${mark.repeat(MAX_COMBINING_MARKS + 1)}`)).toBe(true);
  });

  it('counts each character apart', () => {
    expect(clean(`a${mark.repeat(6)}b${mark.repeat(6)}`)).toBe(`a${mark.repeat(4)}b${mark.repeat(4)}`);
  });

  it('cuts "Zalgo" text of every common combining block to the cap', () => {
    const blocks = [0x0300, 0x1ab0, 0x1dc0, 0x20d0, 0xfe20];
    for (const first of blocks) {
      const marks = Array.from({ length: 16 }, (_, i) => String.fromCodePoint(first + i)).join('');
      expect(clean(`Z${marks}`), first.toString(16)).toBe(`Z${marks.slice(0, MAX_COMBINING_MARKS)}`);
    }
  });

  it('caps variation selectors too: a message hidden in them keeps 4 bytes', () => {
    const hidden = Array.from({ length: 30 }, (_, i) => String.fromCodePoint(0xe0100 + i)).join('');
    expect(Array.from(clean(`😀${hidden}`))).toHaveLength(1 + MAX_COMBINING_MARKS);
  });

  it('keeps real text whole: Vietnamese (decomposed), Hindi, Thai, pointed Hebrew, a keycap', () => {
    for (const text of ['Vie\u0323\u0302t', 'नमस्ते दुनिया', 'สวัสดี ครับ', 'בְּרֵאשִׁ֖ית', '#️⃣ 1️⃣']) {
      expect(clean(text), text).toBe(text);
      expect(hasUnsafeText(text), text).toBe(false);
    }
  });

  it('counts again from the marks left after a backspace', () => {
    expect(typed(`e${mark.repeat(4)}`, BS, `${mark.repeat(3)}\n`)).toEqual([`e${mark.repeat(4)}`]);
    expect(typed(`e${mark.repeat(4)}x`, BS, `${mark}\n`)).toEqual([`e${mark.repeat(4)}`]);
  });
});

describe('the Unicode tables', () => {
  /** What this Node says, as text.ts writes its tables: `first-last` hex ranges. */
  function rangesOf(property: RegExp): string {
    const out: string[] = [];
    let start = -1;
    for (let cp = 0; cp <= 0x110000; cp++) {
      const match = cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) && property.test(String.fromCodePoint(cp));
      if (match && start < 0) start = cp;
      if (!match && start >= 0) {
        out.push(start === cp - 1 ? start.toString(16) : `${start.toString(16)}-${(cp - 1).toString(16)}`);
        start = -1;
      }
    }
    return out.join(',');
  }
  const written = (ranges: string): string => ranges.replace(/\s+/g, '');
  /** -1, 0 or 1 as Unicode version `a` is older, the same or newer than `b`. */
  const compare = (a: string, b: string): number => {
    const [x = 0, y = 0] = a.split('.').map(Number);
    const [u = 0, v = 0] = b.split('.').map(Number);
    return Math.sign(x - u || y - v);
  };

  it.each([
    ['/\\p{M}/u', /\p{M}/u, MARK_RANGES, isCombiningMark],
    ['/\\p{Extended_Pictographic}/u', /\p{Extended_Pictographic}/u, PICTOGRAPH_RANGES, isPictograph],
  ] as const)('are %s of this Node for every code point (newer Unicode: a superset of them)', (_, property, ranges, test) => {
    const runtime = process.versions.unicode ?? UNICODE_VERSION;
    const order = compare(runtime, UNICODE_VERSION);
    const wrong: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const here = property.test(String.fromCodePoint(cp));
      const ours = test(cp);
      // Marks and pictographs are only ever added: an older Node knows fewer, a newer more.
      if (here !== ours && !(order < 0 && ours) && !(order > 0 && here)) wrong.push(cp.toString(16));
    }
    const regenerate = order > 0 ? `\nUnicode ${runtime} here: the ranges are now\n${rangesOf(property)}` : '';
    expect(wrong, `code points that disagree with Unicode ${runtime}${regenerate}`).toEqual([]);
    if (order === 0) expect(written(ranges)).toBe(rangesOf(property));
  });

  it('TextFilter holds a ZWJ only after an emoji', () => {
    const filter = new TextFilter();
    expect(filter.next(0x61)).toBe(Verdict.Keep);
    expect(filter.next(ZWJ)).toBe(Verdict.Drop);
    expect(filter.next(0x1f600)).toBe(Verdict.Keep);
    expect(filter.next(ZWJ)).toBe(Verdict.Hold);
    expect(filter.holding).toBe(true);
    expect(filter.next(0x1f525)).toBe(Verdict.JoinAndKeep);
    expect(filter.holding).toBe(false);
  });
});
