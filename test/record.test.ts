import { describe, expect, it } from 'vitest';
import {
  encodeRecord,
  MAX_RECORD_BYTES,
  MAX_RECORD_DATA_BYTES,
  RecordDecoder,
  RecordType,
  RECORD_HEADER_BYTES,
  type PipeRecord,
} from '../src/record.js';

interface Decoded {
  type: number;
  pid: number;
  data: Buffer;
}

function collect(decoder: RecordDecoder, chunk: Buffer, into: Decoded[]): number {
  return decoder.push(chunk, (record: PipeRecord) => into.push({ ...record, data: Buffer.from(record.data) }));
}

describe('record codec', () => {
  it('lays a record out as u32le length, type, u32le pid, data', () => {
    const record = encodeRecord(RecordType.msg, 0x01020304, Buffer.from('hi'));
    expect([...record]).toEqual([7, 0, 0, 0, 1, 4, 3, 2, 1, 0x68, 0x69]);
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
    expect(RECORD_HEADER_BYTES).toBe(9);
  });

  it('reports an impossible length instead of waiting for ever', () => {
    const corrupt: number[] = [];
    const decoder = new RecordDecoder(({ discardedBytes }) => corrupt.push(discardedBytes));
    const out: Decoded[] = [];
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
    collect(decoder, garbage, out);
    expect(out).toEqual([]);
    expect(corrupt).toEqual([garbage.length]);
    collect(decoder, encodeRecord(RecordType.msg, 9, Buffer.from('after')), out);
    expect(out.map((r) => r.data.toString())).toEqual(['after']);
  });
});
