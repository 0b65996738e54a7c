/**
 * A child's chat input path (ChatInput over LineRecords) on a fake pipe: the telnet
 * answers of one read go out as one reply record, each request is answered once per
 * connection, and answers are charged to the client's flood-control bucket.
 */
import { describe, expect, it } from 'vitest';
import { ChatInput, LineRecords } from '../../src/child/input.js';
import { PipeWriter } from '../../src/pipe/writer.js';
import { RecordDecoder, RecordType, recordTypeName } from '../../src/protocol/record.js';

const IAC = 255;
const WILL = 251;
const DO = 253;

interface Sent {
  type: string;
  data: number[];
}

/** A ChatInput whose pipe is a fake: every record written, decoded, and how many wake-ups. */
function child(rateLimit: { perSecond: number; burst: number } | null = null): {
  read: (...parts: (string | number[])[]) => Sent[];
  wakes: () => number;
} {
  const decoder = new RecordDecoder();
  let records: Sent[] = [];
  let wakes = 0;
  const pipe = new PipeWriter(
    {
      write: (buffer, length) => {
        decoder.push(Buffer.from(buffer.subarray(0, length)), { record: (r) => records.push({ type: recordTypeName(r.type), data: [...r.data] }) });
      },
      wake: () => wakes++,
    },
    4321,
  );
  const lines = new LineRecords(pipe, rateLimit);
  const input = new ChatInput(lines, 400);
  return {
    /** One read of the client: its bytes, then the flush after it, as serveClient() does; the records it made. */
    read: (...parts) => {
      const chunk = Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));
      input.feed(chunk, chunk.length);
      lines.flush();
      const out = records;
      records = [];
      return out;
    },
    wakes: () => wakes,
  };
}

const reply = (...bytes: number[]): Sent => ({ type: recordTypeName(RecordType.reply), data: bytes });
const msg = (text: string): Sent => ({ type: recordTypeName(RecordType.msg), data: [...Buffer.from(text)] });

describe('ChatInput: telnet answers', () => {
  it('puts all the answers of one read in one reply record, after its lines', () => {
    const c = child();
    const out = c.read([IAC, WILL, 31, IAC, WILL, 24], 'hi\r\n', [IAC, DO, 3, IAC, DO, 5]);
    expect(out).toEqual([msg('hi'), reply(IAC, 254, 31, IAC, 254, 24, IAC, 252, 3, IAC, 252, 5)]);
    expect(c.wakes()).toBe(1);
  });

  it('never answers the same request twice on a connection: a client repeating it makes no records', () => {
    const c = child();
    expect(c.read([IAC, DO, 3])).toEqual([reply(IAC, 252, 3)]);
    expect(c.read([IAC, DO, 3, IAC, WILL, 31, IAC, WILL, 31])).toEqual([reply(IAC, 254, 31)]);
    for (let i = 0; i < 100; i++) expect(c.read([IAC, DO, 3, IAC, WILL, 31])).toEqual([]);
    expect(c.wakes()).toBe(2);
  });

  it('fits the most answers a read can need (every WILL and DO) into its one record', () => {
    const c = child();
    const every = Array.from({ length: 256 }, (_, option) => [IAC, WILL, option, IAC, DO, option]).flat();
    const out = c.read(every);
    expect(out).toHaveLength(1);
    expect(out[0]?.data).toHaveLength(511 * 3); // all but DO ECHO, never answered (src/protocol/telnet.ts)
    expect(c.read(every)).toEqual([reply(IAC, 252, 6)]); // only DO TIMING-MARK is answered again
  });

  it('charges a reply record one token, and drops the answers when the bucket is empty', () => {
    const c = child({ perSecond: 0.001, burst: 2 });
    expect(c.read([IAC, DO, 5])).toEqual([reply(IAC, 252, 5)]); // token 1
    expect(c.read('one\r\n')).toEqual([msg('one')]); // token 2
    expect(c.read([IAC, DO, 3])).toEqual([{ type: 'throttled', data: [] }]); // none left: dropped, and the client told
    expect(c.read('two\r\n', [IAC, DO, 24])).toEqual([]);
  });

  it('gets a flooder of negotiations cut off like a flooder of lines', () => {
    const c = child({ perSecond: 0.001, burst: 1 });
    const kinds: string[] = [];
    for (let read = 0; read < 60; read++) for (const record of c.read([IAC, DO, 6])) kinds.push(record.type); // DO TIMING-MARK: answered every read
    expect(kinds[0]).toBe('reply');
    expect(kinds[1]).toBe('throttled');
    expect(kinds.at(-1)).toBe('flood');
    expect(kinds.filter((kind) => kind === 'flood')).toHaveLength(1);
  });

  it('restores a UTF-8 character telnet cut with IP, and answers the DO TIMING-MARK after it', () => {
    const c = child();
    // у is D1 83; inetutils telnet sends D1, then IAC IP and IAC DO TIMING-MARK for the 0x83
    expect(c.read([0xd1, IAC, 244, IAC, DO, 6], ' вас\r\n')).toEqual([msg('у вас'), reply(IAC, 252, 6)]);
  });
});
