import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineEditor } from '../src/protocol/line-editor.js';
import { TelnetDecoder, TelnetEdit } from '../src/protocol/telnet.js';
import { hasUnsafeText } from '../src/protocol/text.js';

interface Output {
  lines: Buffer[];
  cuts: boolean[];
  replies: Buffer[];
}

/**
 * The child's chat input pipeline (telnet -> line editor), fed in the given chunks.
 * `runs`: printable ASCII goes to the editor in runs, as in the child; false: one byte at a time.
 */
function decode(chunks: Buffer[], maxBytes = 64, runs = true): Output {
  const out: Output = { lines: [], cuts: [], replies: [] };
  const target = Buffer.alloc(9 + maxBytes);
  const editor = new LineEditor(target, 9, maxBytes, {
    line: (length: number, cut: boolean) => {
      out.lines.push(Buffer.from(target.subarray(9, 9 + length)));
      out.cuts.push(cut);
    },
  });
  const telnet = new TelnetDecoder({
    data: (byte) => editor.byte(byte),
    text: (bytes, from, to) => {
      if (runs) editor.text(bytes, from, to);
      else for (let i = from; i < to; i++) editor.byte(bytes[i] ?? 0);
    },
    edit: (what) => {
      if (what === TelnetEdit.EraseChar) editor.eraseChar();
      else if (what === TelnetEdit.EraseLine) editor.eraseLine();
      else editor.discardLine();
    },
    reply: (bytes) => out.replies.push(Buffer.from(bytes)),
  });
  for (const chunk of chunks) telnet.feed(chunk, chunk.length);
  editor.end();
  return out;
}

const text = (out: Output): string[] => out.lines.map((line) => line.toString('utf8'));
const b = (...parts: (string | number[] | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));

const IAC = 255;

describe('TelnetDecoder', () => {
  it('strips negotiation and refuses every option asked for', () => {
    const out = decode([b([IAC, 251, 31], 'hi', [IAC, 253, 3], '\r\n')]); // WILL NAWS, DO SUPPRESS-GO-AHEAD
    expect(text(out)).toEqual(['hi']);
    expect(out.replies.map((r) => [...r])).toEqual([
      [IAC, 254, 31], // DONT NAWS
      [IAC, 252, 3], // WONT SUPPRESS-GO-AHEAD
    ]);
  });

  it('never answers DO ECHO: it agrees to the WILL ECHO the parent sends around a password', () => {
    const out = decode([b([IAC, 253, 1], 'secret\r\n', [IAC, 254, 1], [IAC, 253, 1])]);
    expect(text(out)).toEqual(['secret']);
    expect(out.replies).toEqual([]);
  });

  it('does not answer WONT or DONT, so two refusing ends never loop', () => {
    expect(decode([b([IAC, 252, 1, IAC, 254, 3], 'x\n')]).replies).toEqual([]);
  });

  it('skips a subnegotiation of any length, even split across reads', () => {
    const sub = b([IAC, 250, 24, 0], 'x'.repeat(5000), [IAC, 240]);
    const out = decode([sub.subarray(0, 7), sub.subarray(7, 4000), b(sub.subarray(4000), 'after\n')]);
    expect(text(out)).toEqual(['after']);
  });

  it('keeps an escaped IAC IAC as data (then drops it: 0xFF is not UTF-8)', () => {
    expect(text(decode([b('a', [IAC, IAC], 'b\n')]))).toEqual(['ab']);
  });

  it('applies erase character and erase line', () => {
    expect(text(decode([b('abc', [IAC, 247], 'd\n', 'xyz', [IAC, 248], 'new\n')]))).toEqual(['abd', 'new']);
  });

  it('answers each (verb, option) once per connection, however often and in however many reads it is asked', () => {
    const ask = b([IAC, 251, 31, IAC, 253, 3, IAC, 251, 31, IAC, 253, 3]); // WILL NAWS, DO SUPPRESS-GO-AHEAD, twice
    const out = decode([ask, ask, b([IAC, 253, 31], 'x\n'), ask]);
    expect(out.replies.map((r) => [...r])).toEqual([
      [IAC, 254, 31], // DONT NAWS
      [IAC, 252, 3], // WONT SUPPRESS-GO-AHEAD
      [IAC, 252, 31], // DO NAWS is another request: WONT NAWS, once
    ]);
    expect(text(out)).toEqual(['x']);
  });

  it('has at most 510 answers to give a connection: WILL and DO of every option, once', () => {
    // Every WILL and DO but DO TIMING-MARK, which is apart (below), and DO ECHO, never answered.
    const every = Buffer.from(Array.from({ length: 256 }, (_, option) => (option === 6 ? [IAC, 251, 6] : [IAC, 251, option, IAC, 253, option])).flat());
    const out = decode([every, every, every]);
    expect(out.replies).toHaveLength(2 * 256 - 2);
  });

  it('answers DO TIMING-MARK every time, but once per read', () => {
    const mark = [IAC, 253, 6];
    const out = decode([b(mark, mark, mark), b(mark), b('x\n')]);
    expect(out.replies.map((r) => [...r])).toEqual([
      [IAC, 252, 6],
      [IAC, 252, 6],
    ]);
  });

  it('discards the half-typed line on IP, AO and ABORT (Ctrl-C), and erases it on EL', () => {
    expect(text(decode([b('half typ', [IAC, 244], 'next\r\n')]))).toEqual(['next']); // IP
    expect(text(decode([b('half typ', [IAC, 245], 'next\r\n')]))).toEqual(['next']); // AO
    expect(text(decode([b('half typ', [IAC, 238], 'next\r\n')]))).toEqual(['next']); // ABORT
    expect(text(decode([b('half typ', [IAC, 248], 'next\r\n')]))).toEqual(['next']); // EL
    // as inetutils sends it: IAC IP, then IAC DO TIMING-MARK
    const out = decode([b('half', [IAC, 244, IAC, 253, 6]), b('next\r\n')]);
    expect(text(out)).toEqual(['next']);
    expect(out.replies.map((r) => [...r])).toEqual([[IAC, 252, 6]]);
  });

  it('starts afresh after IP: an escape sequence being taken, or the rest of a cut line, ends', () => {
    expect(text(decode([b('a\x1b]0;title', [IAC, 244], 'b\n')]))).toEqual(['b']);
    const out = decode([b('x'.repeat(30), [IAC, 244], 'next\n')], 20);
    expect(text(out)).toEqual(['x'.repeat(20), 'next']);
    expect(out.cuts).toEqual([true, false]);
  });

  it('leaves BRK, SUSP, EOF, NOP and AYT outside a character alone', () => {
    expect(text(decode([b('a', [IAC, 243], 'b', [IAC, 237], 'c', [IAC, 236], 'd', [IAC, 241], 'e', [IAC, 246], 'f\n')]))).toEqual(['abcdef']);
  });
});

/**
 * What inetutils telnet 2.4 sends for UTF-8 text typed in its default mode (recorded by
 * test/telnet-utf8.test.ts, "the bytes inetutils telnet sends"): a continuation byte
 * 0x80 + c, c a terminal special character, goes as a telnet command and IAC DO TM.
 */
describe('TelnetDecoder: commands inside a UTF-8 character (inetutils telnet)', () => {
  const TM = [IAC, 253, 6];
  const cases: [string, number[]][] = [
    ['у', [0xd1, IAC, 244, ...TM]], // 0x83 (^C): IP
    ['本', [0xe6, IAC, 243, ...TM, 0xac]], // 0x9C (^\): BRK
    ['К', [0xd0, IAC, 237, ...TM]], // 0x9A (^Z): SUSP
    ['я', [0xd1, IAC, 245, ...TM]], // 0x8F (^O): AO
    ['👍🏽', [0xf0, 0x9f, 0x91, 0x8d, 0xf0, 0x9f, IAC, 245, ...TM, 0xbd]], // 🏽 = F0 9F 8F BD
    ['本', [0xe6, IAC, 238, ...TM, 0xac]], // 0x9C as ABORT (a client in LINEMODE)
    ['ф', [0xd1, IAC, 236]], // 0x84 (^D) as EOF (a client in LINEMODE)
  ];

  it.each(cases)('puts back the byte of %s', (char, sent) => {
    const out = decode([b('a ', sent, ' b\r\n')]);
    expect(text(out)).toEqual([`a ${char} b`]);
  });

  it('puts it back however the reads fall', () => {
    const stream = b('日', [0xe6, IAC, 243, ...TM, 0xac], '語 ', [0xd1, IAC, 244, ...TM], ' вас\r\n');
    for (let cut1 = 0; cut1 <= stream.length; cut1++) {
      for (let cut2 = cut1; cut2 <= stream.length; cut2 += 3) {
        const out = decode([stream.subarray(0, cut1), stream.subarray(cut1, cut2), stream.subarray(cut2)]);
        expect(text(out), `cut at ${cut1}, ${cut2}`).toEqual(['日本語 у вас']);
      }
    }
  });

  it('still discards the line on IP between characters, even right after a multi-byte one', () => {
    expect(text(decode([b('日本', [IAC, 244, ...TM], 'next\r\n')]))).toEqual(['next']);
  });

  it('does not put back what cannot be a continuation: EC, EL, NOP inside a character are not this mangling', () => {
    expect(text(decode([b('a', [0xd1, IAC, 241], 'b\n')]))).toEqual(['ab']); // NOP: the character stays broken
    expect(text(decode([b('abc', [0xd1, IAC, 248], 'x\n')]))).toEqual(['x']); // EL erases
  });
});

describe('LineEditor', () => {
  it('ends lines at CR LF, CR NUL, bare CR and bare LF', () => {
    expect(text(decode([b('one\r\ntwo\r', [0], 'three\nfour\rfive\n')]))).toEqual(['one', 'two', 'three', 'four', 'five']);
  });

  it('treats a CR LF split across reads as one line end', () => {
    expect(text(decode([b('one\r'), b('\ntwo\n')]))).toEqual(['one', 'two']);
  });

  it('applies backspace and DEL, a whole UTF-8 character at a time', () => {
    expect(text(decode([b('helo\bl\x7flo wörld', [8, 8, 8, 8], 'orld\n')]))).toEqual(['hello world']);
  });

  it('removes ANSI/VT escape sequences: CSI, OSC title, DCS, charset, two-byte', () => {
    const evil = b('a\x1b[2J\x1b[31mb\x1b]0;owned\x07c\x1b]2;x\x1b\\d\x1bPq#0\x1b\\e\x1b(Bf\x1bcg\n');
    expect(text(decode([evil]))).toEqual(['abcdefg']);
  });

  it('removes C0 and C1 controls and bidirectional overrides, and turns a tab into a space', () => {
    expect(text(decode([b('a\x07b\x0cc\x00d\u0085e\u202ef\tg\n')]))).toEqual(['abcdef g']);
  });

  it('drops invalid UTF-8: stray continuations, overlongs, surrogates, truncated characters', () => {
    const bad = b('a', [0x80], 'b', [0xc0, 0xaf], 'c', [0xed, 0xa0, 0x80], 'd', [0xe2, 0x82], 'e', [0xfe], 'f\n'); // (0xFF would be telnet's IAC)
    expect(text(decode([bad]))).toEqual(['abcdef']);
  });

  it('keeps a character split across reads', () => {
    const euro = Buffer.from('€', 'utf8');
    expect(text(decode([b('price ', [euro[0] as number]), b([euro[1] as number]), b([euro[2] as number], '5\n')]))).toEqual(['price €5']);
  });

  it('cuts an over-long line once, at a character boundary, and drops the rest of it', () => {
    const out = decode([b('é'.repeat(40), '\n', 'next\n')], 21);
    expect(text(out)).toEqual(['é'.repeat(10), 'next']);
    expect(out.cuts).toEqual([true, false]);
  });

  it('cuts a line that never ends once its text passes the limit, and holds nothing more', () => {
    const out = decode(Array.from({ length: 100 }, () => b('z'.repeat(1000))), 512);
    expect(out.lines.map((line) => line.length)).toEqual([512]);
    expect(out.cuts).toEqual([true]);
  });

  it('takes a C1 CSI or OSC (U+009B, U+009D) with its whole sequence', () => {
    expect(text(decode([b('a\u009b31mb\u009d0;title\u0007c\n')]))).toEqual(['abc']);
  });

  it('does not let an unterminated escape sequence swallow the next lines', () => {
    expect(text(decode([b('a\x1b]0;never ends\nb\n')]))).toEqual(['a', 'b']);
  });
});

describe('telnet + line editor, on random byte streams', () => {
  const stream = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 });
  // Bytes a terminal would act on: C0 controls, DEL, and C1 controls in their UTF-8 form.
  const control = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

  it('never throws, and every line is short, valid UTF-8 and free of control characters', () => {
    fc.assert(
      fc.property(stream, fc.integer({ min: 4, max: 600 }), (chunks, max) => {
        const out = decode(chunks.map((chunk) => Buffer.from(chunk)), max);
        for (const line of out.lines) {
          expect(line.length).toBeLessThanOrEqual(max);
          const decoded = new TextDecoder('utf-8', { fatal: true }).decode(line); // throws on a split character
          expect(decoded).not.toMatch(control);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('gives the same lines however the stream is cut into reads', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(2000), { maxLength: 10 }), (bytes, cuts) => {
        const whole = decode([Buffer.from(bytes)], 128);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const pieces: Buffer[] = [];
        let from = 0;
        for (const point of [...points, bytes.length]) {
          pieces.push(Buffer.from(bytes.subarray(from, point)));
          from = point;
        }
        const split = decode(pieces, 128);
        expect(split.lines).toEqual(whole.lines);
        expect(split.replies).toEqual(whole.replies);
      }),
      { numRuns: 300 },
    );
  });

  it('makes the same lines of runs of printable ASCII as of each of their bytes', () => {
    // Printable ASCII around what a run must not skip over: line ends, escapes, edits,
    // UTF-8 (whole, cut short, a ZWJ and an emoji), telnet commands.
    const piece = fc.oneof(
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 30 }).map((s) => Buffer.from(s, 'latin1')),
      fc.constantFrom(...['\r', '\n', '\r\n', '\r\0', '\x1b', '\x1b[', '\x1b]0;', '\x07', '\x1b\\', '\b', '\x7f', '\t', '\u00e9', '\u200d', '\u{1f600}', '\u009b', '\u202e'].map((s) => Buffer.from(s, 'utf8'))),
      fc.constantFrom(Buffer.from([0xc3]), Buffer.from([0xe2, 0x80]), Buffer.from([IAC, 247]), Buffer.from([IAC, 248]), Buffer.from([IAC, 244]), Buffer.from([IAC, IAC])),
    );
    fc.assert(
      fc.property(fc.array(fc.array(piece, { maxLength: 12 }), { maxLength: 6 }), fc.integer({ min: 1, max: 48 }), (reads, max) => {
        const chunks = reads.map((pieces) => Buffer.concat(pieces));
        const byRuns = decode(chunks, max, true);
        const byBytes = decode(chunks, max, false);
        expect(byRuns.lines).toEqual(byBytes.lines);
        expect(byRuns.cuts).toEqual(byBytes.cuts);
      }),
      { numRuns: 1000 },
    );
  });

  it('passes printable text through unchanged', () => {
    const printable = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !control.test(s) && !/[\r\n\t\b]/.test(s) && !hasUnsafeText(s));
    fc.assert(
      fc.property(fc.array(printable, { maxLength: 10 }), (lines) => {
        const out = decode([Buffer.from(lines.map((line) => `${line}\r\n`).join(''), 'utf8')], 4000);
        expect(text(out)).toEqual(lines);
      }),
      { numRuns: 300 },
    );
  });
});
