/** What the parent and the password hasher say to each other: one record each, checked on arrival. */
import { describe, expect, it } from 'vitest';
import { decodeFromHasher, decodeToHasher, encodeHasherRecord } from '../../src/hasher/protocol.js';
import { RecordDecoder, RecordType, type PipeRecord } from '../../src/protocol/record.js';

function decodeAll(bytes: Buffer): PipeRecord[] {
  const records: PipeRecord[] = [];
  new RecordDecoder().push(bytes, { record: (record) => records.push({ ...record, data: Buffer.from(record.data) }) });
  return records;
}

describe('the hasher protocol', () => {
  it('carries requests and answers as `hasher` records', () => {
    const [request] = decodeAll(encodeHasherRecord(42, { id: 7, op: 'verify', password: 'pass "word"\\', stored: 'scrypt$1$2$3$s$h' }));
    expect(request?.type).toBe(RecordType.hasher);
    expect(request?.pid).toBe(42);
    expect(decodeToHasher(request?.data ?? Buffer.alloc(0))).toEqual({ id: 7, op: 'verify', password: 'pass "word"\\', stored: 'scrypt$1$2$3$s$h' });
    const [answer] = decodeAll(encodeHasherRecord(43, { t: 'verified', id: 7, ok: true }));
    expect(decodeFromHasher(answer?.data ?? Buffer.alloc(0))).toEqual({ t: 'verified', id: 7, ok: true });
  });

  it('refuses what is not a request or an answer', () => {
    const bad = ['', 'null', '[]', '{"id":1,"op":"hash"}', '{"id":"1","op":"hash","password":"x"}', '{"id":1,"op":"verify","password":"x"}', '{"id":1,"op":"crack","password":"x"}'];
    for (const text of bad) expect(decodeToHasher(Buffer.from(text)), text).toBeNull();
    expect(decodeToHasher(Buffer.from('{"id":1,"op":"hash","password":"x","extra":1}'))).toEqual({ id: 1, op: 'hash', password: 'x' });
    const badAnswers = ['{', '{"t":"hashed","id":1}', '{"t":"verified","id":1,"ok":"yes"}', '{"t":"hashed","id":1.5,"hash":"h"}', '{"t":"other","id":1}'];
    for (const text of badAnswers) expect(decodeFromHasher(Buffer.from(text)), text).toBeNull();
    expect(decodeFromHasher(Buffer.from('{"t":"ready"}'))).toEqual({ t: 'ready' });
    expect(decodeFromHasher(Buffer.from('{"t":"failed","id":3}'))).toEqual({ t: 'failed', id: 3 });
  });
});
