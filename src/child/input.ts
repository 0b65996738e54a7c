/**
 * A child's input path: bytes from its client in, records to the parent out.
 * 'chat' mode decodes telnet, edits and cleans each line; 'classic' passes each
 * line's bytes on as the original did. Flood control happens here too, on every
 * core at once, so the parent only routes clean lines. Allocates nothing per line.
 */
import type { ChildPlan, RateLimit } from '../contracts.js';
import * as posix from '../posix/index.js';
import { LineAssembler, type LineSink } from '../protocol/line-assembler.js';
import { LineEditor } from '../protocol/line-editor.js';
import { TokenBucket } from '../protocol/rate-limit.js';
import { MAX_RECORD_BYTES, MAX_RECORD_DATA_BYTES, RECORD_HEADER_BYTES, RecordType, type RecordTypeCode } from '../protocol/record.js';
import { TelnetDecoder, TelnetEdit, type TelnetSink } from '../protocol/telnet.js';
import { stderrTrace } from '../trace.js';
import { PipeWriter, type PipeIo } from '../pipe/writer.js';

const SIGUSR1 = posix.signalNumber('SIGUSR1');

/**
 * Lines to records: each line the editor finishes (in `lineBuffer`, after room for a
 * header) becomes a record, if the rate limit lets it through.
 */
export class LineRecords implements LineSink {
  /** Where the line editor assembles the current line, after room for a header. */
  readonly lineBuffer = Buffer.allocUnsafe(MAX_RECORD_BYTES);
  private readonly bucket: TokenBucket | null;
  /** Set once we asked the parent to disconnect a flooder: nothing more goes through. */
  private silenced = false;
  /** What the `disc` record carries: a web client's close code (u16 BE), or nothing. */
  private readonly discData = Buffer.alloc(2);
  private discLength = 0;

  constructor(
    private readonly pipe: PipeWriter,
    rateLimit: RateLimit | null,
  ) {
    this.bucket = rateLimit === null ? null : new TokenBucket(rateLimit.perSecond, rateLimit.burst);
  }

  /** The records are this process's from now on (its pid goes in each). */
  ownedBy(pid: number): void {
    this.pipe.ownedBy(pid);
  }

  /** LineSink: a line of `length` bytes in `lineBuffer`, `cut` at the limit. */
  line(length: number, cut: boolean): void {
    if (this.admit()) this.pipe.queue(cut ? RecordType.cut : RecordType.msg, this.lineBuffer, RECORD_HEADER_BYTES, length);
  }

  /**
   * Telnet answers, `bytes[0, length)`, for the parent to send back to this client: one
   * record, charged a token like a line (a client that keeps negotiating floods the
   * parent as surely as one that keeps talking); dropped when the bucket says so.
   */
  sendReply(bytes: Buffer, length: number): void {
    if (this.admit()) this.pipe.queue(RecordType.reply, bytes, 0, length);
  }

  /** Flood control: whether one more record may go, telling the parent when a client starts being throttled or is to go. */
  private admit(): boolean {
    if (this.silenced) return false;
    switch (this.bucket?.take() ?? 'pass') {
      case 'pass':
        return true;
      case 'first-drop':
        this.pipe.queue(RecordType.throttled, this.lineBuffer, 0, 0);
        return false;
      case 'drop':
        return false;
      case 'kick':
        this.silenced = true;
        this.pipe.queue(RecordType.flood, this.lineBuffer, 0, 0);
        return false;
    }
  }

  /**
   * A record about the connection itself, `data[0, length)`, sent at once: what its PROXY
   * header said (`origin`), or why it is refused (`refused`). Not charged to flood control.
   */
  sendNow(type: RecordTypeCode, data: Buffer, length: number): void {
    this.pipe.queue(type, data, 0, length);
    this.pipe.flush();
  }

  /** A web client's WebSocket is open: it joins the chat. Sent at once. */
  sendOpen(): void {
    this.pipe.queue(RecordType.open, this.lineBuffer, 0, 0);
    this.pipe.flush();
  }

  /** The WebSocket close code the parent is to send when this client goes (the `disc` record carries it). */
  closeWith(code: number): void {
    this.discData.writeUInt16BE(code, 0);
    this.discLength = 2;
  }

  /** The client has gone: the last record. */
  sendDisc(): void {
    this.pipe.queue(RecordType.disc, this.discData, 0, this.discLength);
    this.pipe.flush();
  }

  /** Sends what is batched and wakes the parent: once per read of the client. Returns how many records went out. */
  flush(): number {
    return this.pipe.flush();
  }

  /** Forgets what is batched, and any flood-control tokens spent on it: the spare's dry run. */
  discard(): void {
    this.pipe.discard();
    this.bucket?.refill();
  }
}

/** The input pipeline for a mode: bytes in, records out. */
export interface Input {
  feed(chunk: Buffer, length: number): void;
  end(): void;
}

/** --classic: lines of raw bytes, as the original passed them on. */
class ClassicInput implements Input {
  private readonly lines: LineAssembler;

  constructor(
    private readonly records: LineRecords,
    maxLine: number,
  ) {
    this.lines = new LineAssembler(records.lineBuffer, RECORD_HEADER_BYTES, maxLine);
  }

  feed(chunk: Buffer, length: number): void {
    this.lines.feed(chunk, length, this.records);
  }

  end(): void {
    this.lines.end(this.records);
  }
}

/**
 * Room for one read's telnet answers: each (verb, option) is answered once per connection
 * (WILL x and DO x: 2 x 256 answers of 3 bytes) and DO TIMING-MARK once per read, so one
 * read can never need more, and it fits one record.
 */
const MAX_ANSWER_BYTES = (2 * 256 + 1) * 3;

/**
 * The chat: telnet decoding, then line editing and cleaning. It is the telnet decoder's
 * sink, and batches the decoder's answers: all of one read's go out as one reply record,
 * when feed() ends. (Exported for the tests; children make theirs with makeInput().)
 */
export class ChatInput implements Input, TelnetSink {
  private readonly editor: LineEditor;
  private readonly telnet: TelnetDecoder;
  /** This read's answers so far (made once: nothing is allocated per read). */
  private readonly answers = Buffer.allocUnsafe(MAX_ANSWER_BYTES);
  private answerLength = 0;

  constructor(
    private readonly records: LineRecords,
    maxLine: number,
  ) {
    this.editor = new LineEditor(records.lineBuffer, RECORD_HEADER_BYTES, maxLine, records);
    this.telnet = new TelnetDecoder(this);
  }

  feed(chunk: Buffer, length: number): void {
    this.telnet.feed(chunk, length);
    if (this.answerLength === 0) return;
    this.records.sendReply(this.answers, this.answerLength);
    this.answerLength = 0;
  }

  end(): void {
    this.editor.end();
  }

  data(byte: number): void {
    this.editor.byte(byte);
  }

  text(bytes: Buffer, from: number, to: number): void {
    this.editor.text(bytes, from, to);
  }

  edit(what: TelnetEdit): void {
    if (what === TelnetEdit.EraseChar) this.editor.eraseChar();
    else if (what === TelnetEdit.EraseLine) this.editor.eraseLine();
    else this.editor.discardLine();
  }

  reply(bytes: Buffer): void {
    if (this.answerLength + bytes.length > this.answers.length) return; // cannot happen (see MAX_ANSWER_BYTES)
    // Byte by byte: Buffer#copy makes a view object per call, and the child must not allocate.
    for (let i = 0; i < bytes.length; i++) this.answers[this.answerLength + i] = bytes[i] ?? 0;
    this.answerLength += bytes.length;
  }
}

/**
 * A child's system calls for its PipeWriter: the addon's write() and kill(). A class,
 * not an object of closures: its methods are made once, in the parent, whose warm-up
 * optimises them, and every child shares that code instead of compiling its own.
 */
class ChildPipeIo implements PipeIo {
  constructor(
    private readonly plan: ChildPlan,
    private readonly trace: ((text: string) => void) | null,
  ) {}

  write(buffer: Buffer, length: number): void {
    // Blocking: while the pipe is full we wait; no record is ever dropped.
    posix.write(this.plan.pipeWriteFd, buffer, 0, length);
  }

  wake(): void {
    posix.kill(this.plan.parentPid, SIGUSR1);
    if (this.trace !== null) this.trace(`kill(${this.plan.parentPid}, SIGUSR1)`);
  }
}

/** The pipe writer of a child, traced with --trace (each line with the pid of the process that traces it). */
function childPipe(plan: ChildPlan): PipeWriter {
  const trace = plan.trace ? (text: string): void => stderrTrace.line('child', posix.getpid(), text) : null;
  return new PipeWriter(new ChildPipeIo(plan, trace), posix.getpid(), trace);
}

/** A child's records and input, made once: by the zygote for all its spares, or by a child forked without one. */
export function makeInput(plan: ChildPlan): { records: LineRecords; input: Input } {
  const records = new LineRecords(childPipe(plan), plan.rateLimit);
  const maxLine = Math.min(plan.maxLineBytes, MAX_RECORD_DATA_BYTES);
  const input = plan.inputMode === 'chat' ? new ChatInput(records, maxLine) : new ClassicInput(records, maxLine);
  return { records, input };
}
