import { crc32 } from 'node:zlib';
import { crc32 as ownCrc32 } from '../src/protocol/crc32.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeRecord,
  MAX_RECORD_BYTES,
  MAX_RECORD_DATA_BYTES,
  RecordDecoder,
  RecordType,
  RECORD_HEADER_BYTES,
  type PipeRecord,
} from '../src/protocol/record.js';

interface Decoded {
  type: number;
  pid: number;
  data: Buffer;
}

function collect(decoder: RecordDecoder, chunk: Buffer, into: Decoded[]): number {
  return decoder.push(chunk, { record: (record: PipeRecord) => into.push({ ...record, data: Buffer.from(record.data) }) });
}

describe('record codec', () => {
  it('lays a record out as u32le length, u32le crc32, magic PC, type, u32le pid, data', () => {
    const record = encodeRecord(RecordType.msg, 0x01020304, Buffer.from('hi'));
    const covered = [0x50, 0x43, 1, 4, 3, 2, 1, 0x68, 0x69];
    expect(record.readUInt32LE(0)).toBe(13);
    expect(record.readUInt32LE(4)).toBe(crc32(Buffer.from(covered)));
    expect([...record.subarray(8)]).toEqual(covered);
  });

  it('round-trips every byte value 0x00-0xFF unchanged', () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const out: Decoded[] = [];
    collect(new RecordDecoder(), encodeRecord(RecordType.msg, 4242, every), out);
    expect(out).toHaveLength(1);
    expect(out[0]?.pid).toBe(4242);
    expect(out[0]?.type).toBe(RecordType.msg);
    expect(out[0]?.data.equals(every)).toBe(true);
  });

  it('reassembles records split at every possible byte boundary', () => {
    const stream = Buffer.concat([
      encodeRecord(RecordType.msg, 1, Buffer.from('first line')),
      encodeRecord(RecordType.msg, 2, Buffer.alloc(0)),
      encodeRecord(RecordType.disc, 3),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const out: Decoded[] = [];
      const decoder = new RecordDecoder();
      collect(decoder, stream.subarray(0, cut), out);
      collect(decoder, stream.subarray(cut), out);
      expect(out.map((r) => [r.type, r.pid, r.data.toString()])).toEqual([
        [RecordType.msg, 1, 'first line'],
        [RecordType.msg, 2, ''],
        [RecordType.disc, 3, ''],
      ]);
    }
  });

  it('decodes many records arriving in one read, byte by byte too', () => {
    const records = Array.from({ length: 500 }, (_, i) => encodeRecord(RecordType.msg, i, Buffer.from(`line ${i}`)));
    const stream = Buffer.concat(records);
    const whole: Decoded[] = [];
    collect(new RecordDecoder(), stream, whole);
    const bytewise: Decoded[] = [];
    const decoder = new RecordDecoder();
    for (const byte of stream) collect(decoder, Buffer.from([byte]), bytewise);
    expect(whole.map((r) => r.pid)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(bytewise.map((r) => r.data.toString())).toEqual(whole.map((r) => r.data.toString()));
  });

  it('keeps a whole record within PIPE_BUF and refuses more data', () => {
    expect(MAX_RECORD_BYTES).toBe(4096);
    expect(encodeRecord(RecordType.msg, 1, Buffer.alloc(MAX_RECORD_DATA_BYTES)).length).toBe(MAX_RECORD_BYTES);
    expect(() => encodeRecord(RecordType.msg, 1, Buffer.alloc(MAX_RECORD_DATA_BYTES + 1))).toThrow(RangeError);
    expect(RECORD_HEADER_BYTES).toBe(15);
  });

  it('skips garbage, counts it, and resynchronises on the next valid record', () => {
    const skipped: number[] = [];
    const decoder = new RecordDecoder(({ discardedBytes }) => skipped.push(discardedBytes));
    const out: Decoded[] = [];
    const good = (text: string): Buffer => encodeRecord(RecordType.msg, 9, Buffer.from(text));
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 0x0d, 0, 0, 0]);
    collect(decoder, Buffer.concat([good('before'), garbage, good('after')]), out);
    expect(out.map((r) => r.data.toString())).toEqual(['before', 'after']);
    expect(skipped).toEqual([garbage.length]);
  });

  it('skips a record whose checksum does not match (a flipped bit in the data)', () => {
    const skipped: number[] = [];
    const decoder = new RecordDecoder(({ discardedBytes }) => skipped.push(discardedBytes));
    const damaged = encodeRecord(RecordType.msg, 1, Buffer.from('damaged'));
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 1) ^ 0x01, damaged.length - 1);
    const out: Decoded[] = [];
    collect(decoder, Buffer.concat([damaged, encodeRecord(RecordType.msg, 2, Buffer.from('fine'))]), out);
    expect(out.map((r) => [r.pid, r.data.toString()])).toEqual([[2, 'fine']]);
    expect(skipped).toEqual([damaged.length]);
  });

  it('recovers from random garbage between records, however it is split', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 50 }))), fc.nat(50), (pieces, step) => {
        const stream = Buffer.concat(pieces.flatMap(([junk, text]) => [Buffer.from(junk), encodeRecord(RecordType.msg, 7, Buffer.from(text))]));
        const out: Decoded[] = [];
        const decoder = new RecordDecoder();
        const size = step + 1;
        for (let at = 0; at < stream.length; at += size) collect(decoder, stream.subarray(at, at + size), out);
        // Every real record comes out, in order; junk could only add a record by forging a CRC-32.
        const texts = out.map((r) => r.data.toString());
        let next = 0;
        for (const [, text] of pieces) {
          next = texts.indexOf(text, next);
          expect(next).not.toBe(-1);
          next++;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('crc32()', () => {
  it('matches zlib over whole buffers and ranges', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), fc.nat(300), (bytes, a, b) => {
        const buffer = Buffer.from(bytes);
        const [start, end] = [Math.min(a, b, buffer.length), Math.min(Math.max(a, b), buffer.length)];
        expect(ownCrc32(buffer, start, end) >>> 0).toBe(crc32(buffer.subarray(start, end)));
      }),
    );
  });
});
