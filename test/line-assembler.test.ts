import { describe, expect, it } from 'vitest';
import { LineAssembler } from '../src/protocol/line-assembler.js';

function run(chunks: (string | Buffer)[], maxBytes = 64): { line: string; cut: boolean }[] {
  const target = Buffer.alloc(8 + maxBytes);
  const lines: { line: string; cut: boolean }[] = [];
  const assembler = new LineAssembler(target, 8, maxBytes);
  const onLine = (length: number, cut: boolean): void => {
    lines.push({ line: target.toString('latin1', 8, 8 + length), cut });
  };
  for (const chunk of chunks) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    // Feed through a larger buffer with stale bytes after the chunk, as the child's read buffer has.
    const input = Buffer.concat([bytes, Buffer.from('\nSTALE\n')]);
    assembler.feed(input, bytes.length, { line: onLine });
  }
  assembler.end({ line: onLine });
  return lines;
}

describe('LineAssembler', () => {
  it('emits one line per LF, with or without a CR before it', () => {
    expect(run(['one\ntwo\r\nthree\n'])).toEqual([
      { line: 'one', cut: false },
      { line: 'two', cut: false },
      { line: 'three', cut: false },
    ]);
  });

  it('holds a partial line until its end arrives in a later read', () => {
    expect(run(['hel', 'lo wor', 'ld\nnext', '\n'])).toEqual([
      { line: 'hello world', cut: false },
      { line: 'next', cut: false },
    ]);
  });

  it('never looks past the bytes it was given', () => {
    expect(run(['abc'])).toEqual([{ line: 'abc', cut: false }]);
  });

  it('delivers an unfinished last line at end of stream', () => {
    expect(run(['no newline at the end'])).toEqual([{ line: 'no newline at the end', cut: false }]);
  });

  it('cuts a line over the limit once and drops the rest of it, never splitting it in two', () => {
    const long = 'x'.repeat(100);
    expect(run([long.slice(0, 30), `${long.slice(30)}\nafter\n`], 16)).toEqual([
      { line: 'x'.repeat(16), cut: true },
      { line: 'after', cut: false },
    ]);
  });

  it('passes every byte value but LF through unchanged', () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0a));
    const lines = run([Buffer.concat([bytes, Buffer.from('\n')])], 512);
    expect(Buffer.from(lines[0]?.line ?? '', 'latin1').equals(bytes)).toBe(true);
  });
});
