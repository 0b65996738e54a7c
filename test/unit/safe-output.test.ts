/**
 * The parent's last check on the text it sends (safeOutput in src/protocol/safe-output.ts),
 * and that a room (Fanout) runs it once per line for all its members.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/contracts.js';
import { Fanout, type FanoutSink } from '../../src/parent/fanout.js';
import { safeOutput } from '../../src/protocol/safe-output.js';

const out = (text: string | Buffer): string => safeOutput(typeof text === 'string' ? Buffer.from(text) : text).toString('utf8');

/** Bytes a terminal must not get: controls but LF and CR before LF, DEL, C1 controls in UTF-8. */
function hasTerminalControl(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    if (b === 0x0d && bytes[i + 1] === 0x0a) continue;
    if ((b < 0x20 && b !== 0x0a) || b === 0x7f) return true;
    if (b === 0xc2 && (bytes[i + 1] ?? 0) >= 0x80 && (bytes[i + 1] ?? 0) <= 0x9f) return true;
  }
  return false;
}

describe('safeOutput()', () => {
  it('hands back the very buffer when it is clean: ASCII, CRLF, emoji, accents, scripts', () => {
    for (const text of ['[12:00] <alice> hello\r\n', '*** Welcome!\r\nline two\r\n', 'café naïve 日本語 👨‍👩‍👧 👍🏽 مرحبا\r\n', '']) {
      const data = Buffer.from(text);
      expect(safeOutput(data)).toBe(data);
    }
  });

  it('drops escape sequences, other controls, a CR not before LF, DEL and C1 controls', () => {
    expect(out('<mallory> \u001b]0;owned\u0007\u001b[2Jhi\r\n')).toBe('<mallory> ]0;owned[2Jhi\r\n');
    expect(out('a\rb\r\n')).toBe('ab\r\n');
    expect(out('tab\there\u007f\u0000\r\n')).toBe('tabhere\r\n');
    expect(out('c1 \u009b2J csi\r\n')).toBe('c1 2J csi\r\n');
    expect(out('bidi \u202eevil\u202c\r\n')).toBe('bidi evil\r\n');
    expect(out('zero\u200bwidth\r\n')).toBe('zerowidth\r\n');
  });

  it('drops bytes that are not UTF-8 (a stray IAC, overlong forms, surrogates), keeping the rest', () => {
    expect(out(Buffer.from([0x61, 0xff, 0xfb, 0x01, 0x62, 0x0d, 0x0a]))).toBe('ab\r\n');
    expect(safeOutput(Buffer.from([0xc0, 0xaf, 0x41]))).toEqual(Buffer.from([0x41]));
    expect(safeOutput(Buffer.from([0xed, 0xa0, 0x80, 0x42]))).toEqual(Buffer.from([0x42]));
    expect(safeOutput(Buffer.from([0xe2, 0x82]))).toEqual(Buffer.alloc(0)); // cut short
  });

  it('lets no terminal control through, whatever the bytes, and never grows them', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const data = Buffer.from(bytes);
        const checked = safeOutput(data);
        expect(hasTerminalControl(checked)).toBe(false);
        expect(checked.length).toBeLessThanOrEqual(data.length);
        expect(safeOutput(checked)).toBe(checked); // what it lets out, it lets out unchanged
      }),
    );
  });
});

describe('Fanout with a check', () => {
  it('checks each line once, and every member gets the checked line', () => {
    const handed: Buffer[] = [];
    const sink: FanoutSink = { enqueue: (_c: Connection, data: Buffer) => handed.push(data), pending: () => {} };
    let checks = 0;
    const group = new Fanout(sink, (text) => {
      checks++;
      return safeOutput(text);
    });
    for (let pid = 1; pid <= 3; pid++) group.add({ pid, fd: pid, address: '127.0.0.1', port: pid, lastActive: 0 });
    group.send(Buffer.from('<zoe> \u001b[2Jhi\r\n'));
    group.flush();
    expect(checks).toBe(1);
    expect(handed.map((data) => data.toString())).toEqual(['<zoe> [2Jhi\r\n', '<zoe> [2Jhi\r\n', '<zoe> [2Jhi\r\n']);
  });
});
