/**
 * Turns a client's text bytes (after the telnet layer) into clean lines: applies
 * backspace/DEL and erase-line, ends lines at CR LF, CR NUL, bare CR or bare LF,
 * removes ANSI/VT escape sequences and every control character, keeps only valid
 * UTF-8, leaves out what src/protocol/text.ts refuses (invisible characters, a ZWJ
 * outside an emoji, combining marks past the cap), and cuts an over-long line at a
 * character boundary, once. What comes out can be shown on anyone's terminal: nobody
 * can clear, recolour, retitle or move the cursor of another person's screen, hide
 * text in a line or draw over the lines around it. Runs in the child; allocates
 * nothing per line.
 */

const BS = 0x08;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const ESC = 0x1b;
const DEL = 0x7f;
const BEL = 0x07;
const NUL = 0x00;

import type { LineSink } from './line-assembler.js';
import { startOfLast, TextFilter, Verdict } from './text.js';

const enum Escape {
  None,
  /** After ESC: the next byte decides the kind of sequence. */
  Start,
  /** ESC [ ... final byte 0x40-0x7E. */
  Csi,
  /** ESC ] / P / X / ^ / _ ... ended by BEL or ESC \ (OSC, DCS, SOS, PM, APC). */
  Text,
  /** ESC inside a Text sequence: `\` ends it. */
  TextEsc,
}

export class LineEditor {
  private length = 0;
  private discarding = false;
  private afterCr = false;
  private escape = Escape.None;
  /** A UTF-8 character being assembled: its bytes so far and how many it needs. */
  private readonly pending = Buffer.alloc(4);
  private pendingLength = 0;
  private pendingNeed = 0;
  /** What of the text is kept, code point by code point (text.ts). */
  private readonly filter = new TextFilter();
  /** A held ZWJ (UTF-8 E2 80 8D) and the emoji after it, appended together. */
  private readonly joined = Buffer.from([0xe2, 0x80, 0x8d, 0, 0, 0, 0]);

  /**
   * @param target where lines are assembled, from `start`
   * @param start offset of the first line byte in `target`
   * @param maxBytes the longest line in bytes; a longer one is cut at a character boundary
   * @param sink gets every finished line
   */
  constructor(
    private readonly target: Buffer,
    private readonly start: number,
    private readonly maxBytes: number,
    private readonly sink: LineSink,
  ) {
    if (start + maxBytes > target.length) throw new RangeError('line limit does not fit the target buffer');
  }

  /** One byte of text. */
  byte(b: number): void {
    // A line end ends any escape sequence too: an unterminated one cannot swallow lines.
    if (b === LF || b === NUL) {
      const endsLine = !this.afterCr;
      this.afterCr = false;
      if (endsLine && b === LF) this.endLine();
      return;
    }
    this.afterCr = false;
    if (b === CR) {
      this.afterCr = true; // a LF or NUL right after belongs to this line end
      this.endLine();
      return;
    }
    if (this.escape !== Escape.None) {
      this.escapeByte(b);
      return;
    }
    if (b === ESC) {
      this.dropPartialChar();
      this.escape = Escape.Start;
    } else if (b === BS || b === DEL) this.eraseChar();
    else if (b === TAB) this.addChar(0x20);
    else if (b < 0x20) this.dropPartialChar(); // other C0 controls: BEL, form feed, ...
    else if (b < 0x80) this.addChar(b);
    else this.utf8Byte(b);
  }

  /**
   * A run of printable ASCII, `bytes[from, to)` (each 0x20-0x7E): what byte() would make of
   * each, done at once. Most of every line is such a run.
   */
  text(bytes: Uint8Array, from: number, to: number): void {
    if (from >= to) return;
    if (this.escape !== Escape.None) {
      // Inside an escape sequence, which may end anywhere in the run: byte by byte.
      for (let i = from; i < to; i++) this.byte(bytes[i] ?? 0);
      return;
    }
    this.afterCr = false;
    this.dropPartialChar();
    this.filter.next(0x20); // any ASCII character: it ends a character's marks, an emoji, a held ZWJ
    if (this.discarding) return;
    const room = this.maxBytes - this.length;
    const count = Math.min(room, to - from);
    // Byte by byte: Buffer#copy makes a view object per call, and the child must not allocate.
    const at = this.start + this.length;
    for (let i = 0; i < count; i++) this.target[at + i] = bytes[from + i] ?? 0;
    this.length += count;
    if (to - from > room) this.cut();
  }

  /** Erase the line typed so far (telnet EL, or Ctrl-U-like editing). */
  eraseLine(): void {
    this.dropPartialChar();
    this.filter.reset();
    if (!this.discarding) this.length = 0;
  }

  /**
   * Throw the half-typed line away and start afresh (telnet IP or AO: Ctrl-C): what
   * was typed, a sequence being taken, the rest of a line that was cut.
   */
  discardLine(): void {
    this.dropPartialChar();
    this.filter.reset();
    this.escape = Escape.None;
    this.discarding = false;
    this.length = 0;
  }

  /** Erase the last character (telnet EC, backspace, DEL). */
  eraseChar(): void {
    this.dropPartialChar();
    if (this.filter.holding) {
      this.filter.dropHeld(); // the ZWJ just typed, not yet in the line
      return;
    }
    if (this.discarding) return;
    const t = this.target;
    const from = this.start;
    let end = Math.max(from, startOfLast(t, from, from + this.length));
    // A ZWJ (E2 80 8D) stays only with the emoji after it: erasing that emoji erases the ZWJ too.
    const before = startOfLast(t, from, end);
    if (before >= 0 && end - before === 3 && t[before] === 0xe2 && t[before + 1] === 0x80 && t[before + 2] === 0x8d) end = before;
    this.length = end - from;
    this.filter.resync(t, from, end);
  }

  /** At end of stream: delivers an unfinished last line, if any. */
  end(): void {
    if (this.length > 0 && !this.discarding) this.endLine();
  }

  private endLine(): void {
    this.dropPartialChar();
    this.filter.reset();
    this.escape = Escape.None;
    const wasDiscarding = this.discarding;
    this.discarding = false;
    const length = this.length;
    this.length = 0;
    if (!wasDiscarding) this.sink.line(length, false);
  }

  private escapeByte(b: number): void {
    switch (this.escape) {
      case Escape.Start:
        if (b === 0x5b) this.escape = Escape.Csi; // [
        else if (b === 0x5d || b === 0x50 || b === 0x58 || b === 0x5e || b === 0x5f) this.escape = Escape.Text; // ] P X ^ _
        else if (b >= 0x20 && b <= 0x2f) this.escape = Escape.Start; // intermediate bytes: ESC ( B and friends
        else this.escape = Escape.None; // a two-byte sequence: ESC c, ESC 7, ...
        return;
      case Escape.Csi:
        if (b >= 0x40 && b <= 0x7e) this.escape = Escape.None;
        else if (b === ESC) this.escape = Escape.Start;
        return;
      case Escape.Text:
        if (b === BEL) this.escape = Escape.None;
        else if (b === ESC) this.escape = Escape.TextEsc;
        return;
      case Escape.TextEsc:
        this.escape = b === 0x5c ? Escape.None : Escape.Text;
        return;
      default:
        this.escape = Escape.None;
    }
  }

  /** UTF-8: a character is added only once whole and valid; anything else is dropped. */
  private utf8Byte(b: number): void {
    if ((b & 0xc0) === 0x80) {
      if (this.pendingNeed === 0) return; // a stray continuation byte
      this.pending[this.pendingLength++] = b;
      if (this.pendingLength < this.pendingNeed) return;
      this.commitPendingChar();
      return;
    }
    this.dropPartialChar();
    // Lead bytes of 2-, 3- and 4-byte characters; C0, C1 and F5-FF never start one.
    const need = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (need === 0) return;
    this.pending[0] = b;
    this.pendingLength = 1;
    this.pendingNeed = need;
  }

  private commitPendingChar(): void {
    const n = this.pendingNeed;
    this.pendingLength = 0;
    this.pendingNeed = 0;
    const p = this.pending;
    const cp =
      n === 2
        ? ((p[0] ?? 0) & 0x1f) << 6 | ((p[1] ?? 0) & 0x3f)
        : n === 3
          ? ((p[0] ?? 0) & 0x0f) << 12 | ((p[1] ?? 0) & 0x3f) << 6 | ((p[2] ?? 0) & 0x3f)
          : ((p[0] ?? 0) & 0x07) << 18 | ((p[1] ?? 0) & 0x3f) << 12 | ((p[2] ?? 0) & 0x3f) << 6 | ((p[3] ?? 0) & 0x3f);
    const overlong = (n === 3 && cp < 0x800) || (n === 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return;
    // C1 controls open sequences too, as ESC [ and ESC ] do: take the whole sequence.
    if (cp === 0x9b) this.escape = Escape.Csi;
    else if (cp === 0x9d || cp === 0x90 || cp === 0x98 || cp === 0x9e || cp === 0x9f) this.escape = Escape.Text;
    switch (this.filter.next(cp)) {
      case Verdict.Keep:
        this.append(p, n);
        return;
      case Verdict.JoinAndKeep: {
        const j = this.joined;
        for (let i = 0; i < n; i++) j[3 + i] = p[i] ?? 0;
        this.append(j, 3 + n); // both or, past the limit, neither
        return;
      }
      default:
        return; // dropped, or a ZWJ held until the next character
    }
  }

  private dropPartialChar(): void {
    this.pendingLength = 0;
    this.pendingNeed = 0;
  }

  private addChar(b: number): void {
    this.dropPartialChar();
    this.filter.next(b); // ASCII is always kept; it ends a character's marks and any emoji
    this.pending[0] = b;
    this.append(this.pending, 1);
  }

  /** Over the limit: delivers what fits, once, and drops the rest of this line. */
  private cut(): void {
    this.sink.line(this.length, true);
    this.length = 0;
    this.discarding = true;
  }

  private append(bytes: Buffer, n: number): void {
    if (this.discarding) return;
    if (this.length + n > this.maxBytes) {
      this.cut();
      return;
    }
    // Byte by byte: Buffer#copy makes a view object per call, and the child must not allocate.
    const at = this.start + this.length;
    for (let i = 0; i < n; i++) this.target[at + i] = bytes[i] ?? 0;
    this.length += n;
  }
}

/** Cleans a whole text (the message of the day, say) the way client lines are cleaned. */
export function cleanLines(bytes: Buffer, maxBytes: number): string[] {
  const lines: string[] = [];
  const target = Buffer.alloc(maxBytes);
  const editor = new LineEditor(target, 0, maxBytes, { line: (length) => lines.push(target.toString('utf8', 0, length)) });
  for (const byte of bytes) editor.byte(byte);
  editor.end();
  return lines;
}
