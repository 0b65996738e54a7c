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
import { MAX_RECORD_BYTES, MAX_RECORD_DATA_BYTES, RECORD_HEADER_BYTES, RecordType } from '../protocol/record.js';
import { TelnetDecoder, TelnetEdit, type TelnetSink } from '../protocol/telnet.js';
import { stderrTrace } from '../trace.js';
import { PipeWriter } from '../pipe/writer.js';

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

  constructor(
    private readonly pipe: PipeWriter,
    rateLimit: RateLimit | null,
  ) {
    this.bucket = rateLimit === null ? null : new TokenBucket(rateLimit.perSecond, rateLimit.burst);
  }

  /** LineSink: a line of `length` bytes in `lineBuffer`, `cut` at the limit. */
  line(length: number, cut: boolean): void {
    if (this.silenced) return;
    switch (this.bucket?.take() ?? 'pass') {
      case 'pass':
        this.pipe.queue(cut ? RecordType.cut : RecordType.msg, this.lineBuffer, RECORD_HEADER_BYTES, length);
        return;
      case 'first-drop':
        this.pipe.queue(RecordType.throttled, this.lineBuffer, 0, 0);
        return;
      case 'drop':
        return;
      case 'kick':
        this.silenced = true;
        this.pipe.queue(RecordType.flood, this.lineBuffer, 0, 0);
    }
  }

  /** Telnet answers, for the parent to send back to this client. */
  sendReply(bytes: Buffer): void {
    this.pipe.queue(RecordType.reply, bytes, 0, bytes.length);
  }

  /** The client has gone: the last record. */
  sendDisc(): void {
    this.pipe.queue(RecordType.disc, this.lineBuffer, 0, 0);
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

/** The chat: telnet decoding, then line editing and cleaning. It is the telnet decoder's sink. */
class ChatInput implements Input, TelnetSink {
  private readonly editor: LineEditor;
  private readonly telnet: TelnetDecoder;

  constructor(
    private readonly records: LineRecords,
    maxLine: number,
  ) {
    this.editor = new LineEditor(records.lineBuffer, RECORD_HEADER_BYTES, maxLine, records);
    this.telnet = new TelnetDecoder(this);
  }

  feed(chunk: Buffer, length: number): void {
    this.telnet.feed(chunk, length);
  }

  end(): void {
    this.editor.end();
  }

  data(byte: number): void {
    this.editor.byte(byte);
  }

  edit(what: TelnetEdit): void {
    if (what === TelnetEdit.EraseChar) this.editor.eraseChar();
    else this.editor.eraseLine();
  }

  reply(bytes: Buffer): void {
    this.records.sendReply(bytes);
  }
}

/** The pipe writer of a child: the addon's write() and kill(), traced with --trace. */
function childPipe(plan: ChildPlan): PipeWriter {
  const pid = posix.getpid();
  const trace = plan.trace ? (text: string): void => stderrTrace.line('child', pid, text) : null;
  const io = {
    write(buffer: Buffer, length: number): void {
      // Blocking: while the pipe is full we wait; no record is ever dropped.
      posix.write(plan.pipeWriteFd, buffer, 0, length);
    },
    wake(): void {
      posix.kill(plan.parentPid, SIGUSR1);
      if (trace !== null) trace(`kill(${plan.parentPid}, SIGUSR1)`);
    },
  };
  return new PipeWriter(io, pid, trace);
}

/** A child's records and input, made once (before its client arrives, for a spare). */
export function makeInput(plan: ChildPlan): { records: LineRecords; input: Input } {
  const records = new LineRecords(childPipe(plan), plan.rateLimit);
  const maxLine = Math.min(plan.maxLineBytes, MAX_RECORD_DATA_BYTES);
  const input = plan.inputMode === 'chat' ? new ChatInput(records, maxLine) : new ClassicInput(records, maxLine);
  return { records, input };
}
