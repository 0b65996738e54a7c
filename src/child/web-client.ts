/**
 * A web port's child. It answers its client's HTTP requests itself: the page's files,
 * errors, and the WebSocket handshake on /ws. Once the WebSocket is open it tells the
 * parent (an `open` record: the client joins the chat) and from then on only reads, as
 * a telnet child does: each text message becomes lines through the same line editor,
 * flood control and records; a ping's pong goes to the parent as a `reply` record,
 * already framed, and the close code with the `disc` record. The parent writes every
 * byte the client gets after the handshake (src/parent/delivery.ts frames it), so
 * nothing the two send can interleave inside a frame.
 */
import type { ChildPlan } from '../contracts.js';
import * as posix from '../posix/index.js';
import { errorResponse, parseRequestHead } from '../protocol/http.js';
import { LineEditor } from '../protocol/line-editor.js';
import { MAX_RECORD_DATA_BYTES, RECORD_HEADER_BYTES } from '../protocol/record.js';
import { FrameDecoder, MAX_CONTROL_PAYLOAD_BYTES, Opcode, writeFrameHeader, type FrameSink } from '../protocol/websocket.js';
import { answer, type WebSettings } from '../web/respond.js';
import type { Input, LineRecords } from './input.js';

/**
 * A browser sends its request as soon as it connects, and its next soon after on a kept
 * connection: one silent this long before a whole request has come is closed.
 */
export const HTTP_IDLE_US = 10_000_000;
/** The largest WebSocket message taken (1009 beyond); a line in it is cut at --max-line anyway. */
export const MAX_WEB_MESSAGE_BYTES = 16 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** WebSocket frames in, lines out: each text message is a line (or several, if it holds line ends). */
export class WebSocketInput implements Input, FrameSink {
  private readonly editor: LineEditor;
  private readonly decoder: FrameDecoder;
  /** A pong, framed: made once. */
  private readonly pong = Buffer.allocUnsafe(2 + MAX_CONTROL_PAYLOAD_BYTES);

  constructor(
    private readonly records: LineRecords,
    maxLine: number,
  ) {
    this.editor = new LineEditor(records.lineBuffer, RECORD_HEADER_BYTES, maxLine, records);
    this.decoder = new FrameDecoder(this, MAX_WEB_MESSAGE_BYTES);
  }

  /** The client closed, or broke the protocol: nothing more is read. */
  get ended(): boolean {
    return this.decoder.closed;
  }

  feed(chunk: Buffer, length: number): void {
    this.decoder.feed(chunk, length);
  }

  end(): void {
    this.editor.end();
  }

  message(data: Buffer, length: number): void {
    for (let i = 0; i < length; i++) this.editor.byte(data[i] ?? 0);
    const last = length > 0 ? data[length - 1] : undefined;
    if (last !== LF && last !== CR) this.editor.byte(LF); // the message's end ends its line
  }

  ping(data: Buffer, length: number): void {
    const at = writeFrameHeader(this.pong, Opcode.pong, length);
    data.copy(this.pong, at, 0, length);
    this.records.sendReply(this.pong, at + length); // flood control counts pings too
  }

  close(code: number): void {
    this.records.closeWith(code);
  }
}

/** Sends all of `bytes` (blocking: this child has nothing else to do meanwhile). */
function sendAll(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) at += posix.send(fd, at === 0 ? bytes : bytes.subarray(at)) ?? 0;
}

/** Says no more (FIN after what was sent); the parent closes its copy when this child's `disc` comes. */
function finish(fd: number): null {
  posix.shutdown(fd, 'SHUT_WR');
  return null;
}

/**
 * Answers requests until one opens the WebSocket; returns how many bytes that came after
 * it wait at the start of `chunk`, or null when the connection is done with.
 */
function serveHttp(fd: number, web: WebSettings, chunk: Buffer): number | null {
  posix.setsockopt(fd, 'SO_RCVTIMEO', HTTP_IDLE_US);
  let used = 0;
  for (;;) {
    const parsed = parseRequestHead(chunk, used);
    if (parsed.kind === 'incomplete') {
      const n = posix.read(fd, chunk, used, chunk.length - used);
      if (n === null || n === 0) return finish(fd); // silent too long, or gone
      used += n;
      continue;
    }
    if (parsed.kind === 'error') {
      sendAll(fd, errorResponse(parsed.status, `Bad request: ${parsed.why}.`));
      return finish(fd);
    }
    const reply = answer(parsed.request, web);
    sendAll(fd, reply.bytes);
    chunk.copy(chunk, 0, parsed.request.headBytes, used); // what came after this request is the next one's
    used -= parsed.request.headBytes;
    if (reply.kind === 'upgrade') {
      posix.setsockopt(fd, 'SO_RCVTIMEO', 0);
      return used;
    }
    if (reply.close) return finish(fd);
  }
}

/** Reads frames until the client goes or closes, passing every line on. */
function serveWebSocket(fd: number, input: WebSocketInput, records: LineRecords, chunk: Buffer, pending: number): void {
  if (pending > 0) input.feed(chunk, pending);
  records.flush();
  while (!input.ended) {
    const n = posix.read(fd, chunk);
    if (n === null) continue;
    if (n === 0) break;
    input.feed(chunk, n);
    records.flush();
  }
  input.end();
}

/** A web child's life with its client, after its setup: HTTP, then perhaps the chat over a WebSocket. */
export function serveWebClient(plan: ChildPlan, records: LineRecords, chunk: Buffer): void {
  const fd = plan.clientFd;
  try {
    if (plan.web === null) return;
    const pending = serveHttp(fd, plan.web, chunk);
    if (pending === null) return;
    records.sendOpen();
    const input = new WebSocketInput(records, Math.min(plan.maxLineBytes, MAX_RECORD_DATA_BYTES));
    serveWebSocket(fd, input, records, chunk, pending);
  } catch {
    // ECONNRESET, EPIPE and the like: the client is gone.
  } finally {
    records.sendDisc();
  }
}
