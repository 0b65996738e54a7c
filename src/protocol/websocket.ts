/**
 * The WebSocket protocol (RFC 6455), as the server side speaks it: the handshake's
 * accept key, the frames the server sends (never masked), and an incremental decoder
 * of what a client sends: masking required, fragmentation and continuation, ping,
 * close with its codes, a maximum message size, text only, valid UTF-8 only.
 * Pure: bytes in, calls on a sink out; the web child (src/child/web-client.ts) and the
 * parent's delivery use it.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';

/** RFC 6455 section 1.3: appended to the client's key before hashing. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Opcode = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** Close codes (RFC 6455 section 7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  /** Never sent: stands for a close frame that carried no code. */
  noStatus: 1005,
  invalidData: 1007,
  policyViolation: 1008,
  tooBig: 1009,
} as const;

/** The most a control frame (close, ping, pong) may carry. */
export const MAX_CONTROL_PAYLOAD_BYTES = 125;
/** The longest frame header: 2 bytes, 8 of extended length, 4 of mask. */
const MAX_HEADER_BYTES = 14;

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + HANDSHAKE_GUID).digest('base64');
}

/** A client key is 16 random bytes in base64 (section 4.1). */
export function isValidKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/** How many bytes the header of an unmasked frame of `length` payload bytes takes. */
export function frameHeaderBytes(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10;
}

/** Writes the header of a final, unmasked frame at `target[0...]`; returns its length. */
export function writeFrameHeader(target: Buffer, opcode: number, length: number): number {
  target[0] = 0x80 | opcode;
  if (length < 126) {
    target[1] = length;
    return 2;
  }
  if (length < 0x10000) {
    target[1] = 126;
    target.writeUInt16BE(length, 2);
    return 4;
  }
  target[1] = 127;
  target.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
  target.writeUInt32BE(length >>> 0, 6);
  return 10;
}

/** The header of a final, unmasked frame (what the server sends before a payload). */
export function frameHeader(opcode: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(frameHeaderBytes(length));
  writeFrameHeader(header, opcode, length);
  return header;
}

/** A whole close frame: `code` and a short reason; an empty one for CloseCode.noStatus. */
export function closeFrame(code: number, reason = ''): Buffer {
  if (code === CloseCode.noStatus) return Buffer.from([0x80 | Opcode.close, 0]);
  const text = Buffer.from(reason, 'utf8').subarray(0, MAX_CONTROL_PAYLOAD_BYTES - 2);
  const frame = Buffer.allocUnsafe(4 + text.length);
  writeFrameHeader(frame, Opcode.close, 2 + text.length);
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}

/** Whether a client may send `code` in a close frame (section 7.4). */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== CloseCode.noStatus && code !== 1006;
}

/** What the decoder hands on. Buffers are the decoder's own, valid only during the call. */
export interface FrameSink {
  /** A complete text message (all its fragments), valid UTF-8: `data[0, length)`. */
  message(data: Buffer, length: number): void;
  /** A ping: answer with a pong carrying `data[0, length)`. */
  ping(data: Buffer, length: number): void;
  /**
   * The end: the client closed (`code` is its code, to echo; CloseCode.noStatus when it gave
   * none) or broke the protocol (`code` says how). Nothing is decoded after it.
   */
  close(code: number, why: string): void;
}

const enum State {
  Header,
  Payload,
  Closed,
}

/** Bytes from a client to messages, pings and a close, one read at a time. */
export class FrameDecoder {
  private state = State.Header;
  private readonly header = Buffer.alloc(MAX_HEADER_BYTES);
  private headerLength = 0;
  /** The current frame's opcode, mask and payload: its length and how much has come. */
  private opcode = 0;
  private fin = false;
  private readonly mask = Buffer.alloc(4);
  private payloadLength = 0;
  private payloadDone = 0;
  /** The message being assembled from its fragments, and whether one is under way. */
  private readonly messageBuffer: Buffer;
  private messageLength = 0;
  private inMessage = false;
  private readonly control = Buffer.alloc(MAX_CONTROL_PAYLOAD_BYTES);

  /**
   * @param maxMessageBytes the largest message (all fragments together); a larger one closes with 1009
   */
  constructor(
    private readonly sink: FrameSink,
    private readonly maxMessageBytes: number,
  ) {
    this.messageBuffer = Buffer.allocUnsafe(maxMessageBytes);
  }

  get closed(): boolean {
    return this.state === State.Closed;
  }

  feed(chunk: Buffer, length: number): void {
    let at = 0;
    while (at < length && this.state !== State.Closed) {
      if (this.state === State.Header) {
        const byte = chunk[at++] ?? 0;
        this.header[this.headerLength++] = byte;
        if (this.headerLength === this.headerNeeded()) this.startFrame();
        continue;
      }
      at = this.takePayload(chunk, at, length);
    }
  }

  /** Bytes of header needed, given what has come (the length and mask follow the first two). */
  private headerNeeded(): number {
    if (this.headerLength < 2) return 2;
    const second = this.header[1] ?? 0;
    const short = second & 0x7f;
    // An unmasked frame has no mask to wait for: it is refused as soon as its first two bytes are in.
    return 2 + (short === 126 ? 2 : short === 127 ? 8 : 0) + ((second & 0x80) !== 0 ? 4 : 0);
  }

  private startFrame(): void {
    const first = this.header[0] ?? 0;
    const second = this.header[1] ?? 0;
    const short = second & 0x7f;
    this.fin = (first & 0x80) !== 0;
    this.opcode = first & 0x0f;
    const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0;
    let length = short;
    if (short === 126) length = this.header.readUInt16BE(2);
    if (short === 127) {
      const high = this.header.readUInt32BE(2);
      if (high >= 0x80000000) return this.finish(CloseCode.protocolError, 'frame length with its top bit set');
      length = high > 0 ? Infinity : this.header.readUInt32BE(6);
    }
    this.header.copy(this.mask, 0, 2 + lengthBytes, 6 + lengthBytes);
    this.headerLength = 0;
    const why = this.refusal(first, second, length);
    if (why !== null) return this.finish(why[0], why[1]);
    this.payloadLength = length;
    this.payloadDone = 0;
    if (!this.isControl() && this.opcode !== Opcode.continuation) {
      this.inMessage = true;
      this.messageLength = 0;
    }
    this.state = State.Payload;
    if (length === 0) this.endFrame();
  }

  /** Why a frame with this header is refused (code, words), or null. */
  private refusal(first: number, second: number, length: number): [number, string] | null {
    if ((first & 0x70) !== 0) return [CloseCode.protocolError, 'reserved bits set (no extension was agreed)'];
    if ((second & 0x80) === 0) return [CloseCode.protocolError, 'client frames must be masked'];
    switch (this.opcode) {
      case Opcode.close:
      case Opcode.ping:
      case Opcode.pong:
        if (!this.fin) return [CloseCode.protocolError, 'fragmented control frame'];
        if (length > MAX_CONTROL_PAYLOAD_BYTES) return [CloseCode.protocolError, 'control frame over 125 bytes'];
        return null;
      case Opcode.text:
        if (this.inMessage) return [CloseCode.protocolError, 'a new message before the last one ended'];
        if (length > this.maxMessageBytes) return [CloseCode.tooBig, `message over ${this.maxMessageBytes} bytes`];
        return null;
      case Opcode.continuation:
        if (!this.inMessage) return [CloseCode.protocolError, 'continuation without a message'];
        if (this.messageLength + length > this.maxMessageBytes) return [CloseCode.tooBig, `message over ${this.maxMessageBytes} bytes`];
        return null;
      case Opcode.binary:
        return [CloseCode.unsupportedData, 'binary messages are not accepted: send text'];
      default:
        return [CloseCode.protocolError, `unknown opcode ${this.opcode}`];
    }
  }

  private isControl(): boolean {
    return this.opcode >= Opcode.close;
  }

  /** Unmasks payload bytes into the message or control buffer; returns where it stopped in `chunk`. */
  private takePayload(chunk: Buffer, at: number, length: number): number {
    const target = this.isControl() ? this.control : this.messageBuffer;
    let offset = this.isControl() ? this.payloadDone : this.messageLength;
    const take = Math.min(length - at, this.payloadLength - this.payloadDone);
    for (let i = 0; i < take; i++) {
      target[offset++] = (chunk[at + i] ?? 0) ^ (this.mask[(this.payloadDone + i) & 3] ?? 0);
    }
    this.payloadDone += take;
    if (!this.isControl()) this.messageLength += take;
    if (this.payloadDone === this.payloadLength) this.endFrame();
    return at + take;
  }

  private endFrame(): void {
    this.state = State.Header;
    switch (this.opcode) {
      case Opcode.ping:
        return this.sink.ping(this.control, this.payloadLength);
      case Opcode.pong:
        return; // an answer to nothing we asked: ignored, as the RFC allows
      case Opcode.close:
        return this.clientClosed();
      default:
        if (!this.fin) return;
        this.inMessage = false;
        if (!isUtf8(this.messageBuffer.subarray(0, this.messageLength))) return this.finish(CloseCode.invalidData, 'text that is not UTF-8');
        this.sink.message(this.messageBuffer, this.messageLength);
    }
  }

  private clientClosed(): void {
    const length = this.payloadLength;
    if (length === 1) return this.finish(CloseCode.protocolError, 'close frame of one byte');
    if (length === 0) return this.finish(CloseCode.noStatus, 'closed by the client');
    const code = this.control.readUInt16BE(0);
    if (!isValidCloseCode(code)) return this.finish(CloseCode.protocolError, `invalid close code ${code}`);
    if (!isUtf8(this.control.subarray(2, length))) return this.finish(CloseCode.invalidData, 'close reason that is not UTF-8');
    this.finish(code, 'closed by the client');
  }

  private finish(code: number, why: string): void {
    this.state = State.Closed;
    this.sink.close(code, why);
  }
}
