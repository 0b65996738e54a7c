/**
 * The WebSocket codec (src/protocol/websocket.ts): the handshake's key, the frames the
 * server sends, and the decoder of what clients send, edge by edge (RFC 6455).
 */
import { describe, expect, it } from 'vitest';
import { acceptKey, closeFrame, CloseCode, FrameDecoder, frameHeader, isValidKey, Opcode, type FrameSink } from '../../src/protocol/websocket.js';
import { clientFrame } from '../helpers/websocket.js';

const MAX = 1024;

/** What a decoder handed on, in order. */
class Recorder implements FrameSink {
  readonly events: (string | [string, number])[] = [];
  message(data: Buffer, length: number): void {
    this.events.push(`text:${data.toString('utf8', 0, length)}`);
  }
  ping(data: Buffer, length: number): void {
    this.events.push(`ping:${data.toString('utf8', 0, length)}`);
  }
  close(code: number): void {
    this.events.push(['close', code]);
  }
}

function decode(bytes: Buffer, chunkSize = bytes.length): Recorder['events'] {
  const sink = new Recorder();
  const decoder = new FrameDecoder(sink, MAX);
  for (let at = 0; at < bytes.length; at += chunkSize) {
    const chunk = bytes.subarray(at, at + chunkSize);
    decoder.feed(Buffer.from(chunk), chunk.length);
  }
  return sink.events;
}

describe('the handshake', () => {
  it('answers the key of RFC 6455 section 1.3 with its accept value', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('takes only 16 bytes in base64 as a key', () => {
    expect(isValidKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe(true);
    expect(isValidKey('dGhlIHNhbXBsZSBub25jZQ')).toBe(false);
    expect(isValidKey('dGhlIHNhbXBsZSBub25jZSE=')).toBe(false);
    expect(isValidKey('')).toBe(false);
  });
});

describe('server frames', () => {
  it('are final, unmasked, with the shortest length form', () => {
    expect([...frameHeader(Opcode.text, 0)]).toEqual([0x81, 0]);
    expect([...frameHeader(Opcode.text, 125)]).toEqual([0x81, 125]);
    expect([...frameHeader(Opcode.text, 126)]).toEqual([0x81, 126, 0, 126]);
    expect([...frameHeader(Opcode.binary, 65535)]).toEqual([0x82, 126, 0xff, 0xff]);
    expect([...frameHeader(Opcode.text, 65536)]).toEqual([0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
  });

  it('close with a code and a reason, or empty for no status', () => {
    expect([...closeFrame(CloseCode.tooBig, 'big')]).toEqual([0x88, 5, 0x03, 0xf1, 0x62, 0x69, 0x67]);
    expect([...closeFrame(CloseCode.noStatus)]).toEqual([0x88, 0]);
    expect(closeFrame(CloseCode.normal, 'x'.repeat(300)).length).toBe(2 + 125);
  });
});

describe('FrameDecoder', () => {
  it('hands on a text message, however the bytes are split', () => {
    const bytes = Buffer.concat([clientFrame(Opcode.text, 'héllo'), clientFrame(Opcode.text, 'x'.repeat(300))]);
    const expected = ['text:héllo', `text:${'x'.repeat(300)}`];
    expect(decode(bytes)).toEqual(expected);
    expect(decode(bytes, 1)).toEqual(expected);
    expect(decode(bytes, 7)).toEqual(expected);
  });

  it('joins fragments, with a ping between them answered at once', () => {
    const euro = Buffer.from('€', 'utf8'); // split across two fragments: valid once joined
    const bytes = Buffer.concat([
      clientFrame(Opcode.text, Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]), { fin: false }),
      clientFrame(Opcode.ping, 'p'),
      clientFrame(Opcode.continuation, euro.subarray(1), { fin: false }),
      clientFrame(Opcode.continuation, 'b'),
    ]);
    expect(decode(bytes)).toEqual(['ping:p', 'text:a€b']);
    expect(decode(bytes, 1)).toEqual(['ping:p', 'text:a€b']);
  });

  it('ignores a pong, and takes an empty message', () => {
    expect(decode(Buffer.concat([clientFrame(Opcode.pong, 'x'), clientFrame(Opcode.text, '')]))).toEqual(['text:']);
  });

  it.each<[string, Buffer, number]>([
    ['an unmasked frame', clientFrame(Opcode.text, 'hi', { masked: false }), CloseCode.protocolError],
    ['reserved bits', clientFrame(Opcode.text, 'hi', { rsv: 0x40 }), CloseCode.protocolError],
    ['an unknown opcode', clientFrame(0x3, 'hi'), CloseCode.protocolError],
    ['a continuation with no message', clientFrame(Opcode.continuation, 'hi'), CloseCode.protocolError],
    ['a fragmented ping', clientFrame(Opcode.ping, 'hi', { fin: false }), CloseCode.protocolError],
    ['a ping over 125 bytes', clientFrame(Opcode.ping, 'x'.repeat(126)), CloseCode.protocolError],
    ['a frame over the limit', clientFrame(Opcode.text, 'x'.repeat(MAX + 1)), CloseCode.tooBig],
    ['a 64-bit length', clientFrame(Opcode.text, '', { claim: 2 ** 40 }), CloseCode.tooBig],
    ['a binary message', clientFrame(Opcode.binary, 'hi'), CloseCode.unsupportedData],
    ['text that is not UTF-8', clientFrame(Opcode.text, Buffer.from([0x61, 0xff])), CloseCode.invalidData],
    ['a close frame of one byte', clientFrame(Opcode.close, Buffer.from([3])), CloseCode.protocolError],
    ['a close code no client may send', clientFrame(Opcode.close, Buffer.from([0x03, 0xed])), CloseCode.protocolError],
    ['a close reason that is not UTF-8', clientFrame(Opcode.close, Buffer.from([0x03, 0xe8, 0xc3])), CloseCode.invalidData],
  ])('closes on %s', (_what, bytes, code) => {
    expect(decode(Buffer.concat([bytes, clientFrame(Opcode.text, 'after')]))).toEqual([['close', code]]);
  });

  it('closes on an unmasked frame without waiting for more bytes', () => {
    expect(decode(clientFrame(Opcode.text, 'hi', { masked: false }), 1)).toEqual([['close', CloseCode.protocolError]]);
  });

  it('closes when fragments together pass the limit', () => {
    const half = 'x'.repeat(MAX / 2 + 1);
    const bytes = Buffer.concat([clientFrame(Opcode.text, half, { fin: false }), clientFrame(Opcode.continuation, half)]);
    expect(decode(bytes)).toEqual([['close', CloseCode.tooBig]]);
  });

  it('closes on a new message before the last one ended', () => {
    const bytes = Buffer.concat([clientFrame(Opcode.text, 'a', { fin: false }), clientFrame(Opcode.text, 'b')]);
    expect(decode(bytes)).toEqual([['close', CloseCode.protocolError]]);
  });

  it('refuses an over-long frame from its header, before its payload comes', () => {
    const header = clientFrame(Opcode.text, '', { claim: MAX + 1 });
    expect(decode(header)).toEqual([['close', CloseCode.tooBig]]);
  });

  it("hands on the client's close code to echo, or no status, and reads nothing after", () => {
    expect(decode(Buffer.concat([clientFrame(Opcode.close, Buffer.from([0x03, 0xe8, 0x6f, 0x6b])), clientFrame(Opcode.text, 'x')]))).toEqual([['close', 1000]]);
    expect(decode(clientFrame(Opcode.close, Buffer.from([0x0f, 0xa0])))).toEqual([['close', 4000]]);
    expect(decode(clientFrame(Opcode.close, ''))).toEqual([['close', CloseCode.noStatus]]);
  });
});
