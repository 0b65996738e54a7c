/**
 * What runs in a forked child (the original's SocketClientBroadcast): read the
 * client, turn each complete line into a record on the pipe, wake the parent
 * with SIGUSR1; on the way out a `disc` record, then `_exit`.
 *
 * The child has only the thread that called fork() (FORK-IN-NODE.md fact 4), so it
 * uses nothing but synchronous addon calls: no timers, promises, console.log or
 * process.exit. Its buffers are made once, so it allocates nothing per message.
 * Work that belongs to one connection (telnet, line editing, cleaning the text)
 * happens here, on every core at once; the parent only routes clean lines.
 */
import { LineAssembler } from './line-assembler.js';
import { LineEditor } from './line-editor.js';
import * as posix from './posix.js';
import { MAX_RECORD_BYTES, MAX_RECORD_DATA_BYTES, RECORD_HEADER_BYTES, RecordType, writeRecordHeader, type RecordTypeCode } from './record.js';
import { TokenBucket } from './rate-limit.js';
import { TelnetDecoder, TelnetEdit } from './telnet.js';

/** What the original read per call. */
export const CLIENT_READ_BYTES = 1024;

/**
 * How a child reads its client: 'chat' decodes telnet and cleans each line;
 * 'classic' passes the bytes of each line on untouched, as the original did.
 */
export type InputMode = 'chat' | 'classic';

/** Everything a child needs, decided in the parent before fork(). */
export interface ChildPlan {
  /** The client's socket: the one descriptor of the parent's that the child keeps, with `pipeWriteFd`. */
  clientFd: number;
  /** The write end of the pipe to the parent. */
  pipeWriteFd: number;
  /** Descriptors the child must close: the listening socket, the pipe's read end, other clients' sockets. */
  closeFds: number[];
  /** The parent's pid, for kill(); `process.pid` in the child still says the parent's too. */
  parentPid: number;
  /** The longest line in bytes; a longer one is cut, never split into two messages. */
  maxLineBytes: number;
  inputMode: InputMode;
  /** Flood control for this client; null: none. */
  rateLimit: RateLimit | null;
}

/** Lines a second, and the burst allowed above that. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

const SIGUSR1 = posix.signalNumber('SIGUSR1');

/**
 * Runs the child's whole life and exits; never returns to the caller (or to the
 * event loop, which belongs to the parent).
 */
export function runChild(plan: ChildPlan): never {
  let code = 0;
  try {
    becomeChild(plan);
    serveClient(plan);
  } catch {
    code = 1; // nothing to tell: the parent notices the exit and reaps it
  }
  return posix._exit(code);
}

function becomeChild(plan: ChildPlan): void {
  // Die with the parent, even if it dies by SIGKILL; and if it already died between
  // fork() and here, leave now (we would have been re-parented).
  posix.setParentDeathSignal('SIGKILL');
  if (posix.getppid() !== plan.parentPid) posix._exit(1);
  // Ctrl-C signals the whole foreground group: the parent shuts us down in order.
  posix.sigaction('SIGINT', 'ignore');
  for (const fd of plan.closeFds) posix.close(fd);
}

/** Feeds what the client sends into records, one buffer for lines and one for replies. */
class RecordWriter {
  readonly line = Buffer.allocUnsafe(MAX_RECORD_BYTES);
  private readonly reply = Buffer.allocUnsafe(MAX_RECORD_BYTES);
  private readonly pid = posix.getpid();
  private readonly bucket: TokenBucket | null;
  /** Set once we asked the parent to disconnect a flooder: nothing more goes through. */
  private silenced = false;

  constructor(private readonly plan: ChildPlan) {
    this.bucket = plan.rateLimit === null ? null : new TokenBucket(plan.rateLimit.perSecond, plan.rateLimit.burst);
  }

  /** A line already assembled in `line` after the header, if the rate limit lets it through. */
  sendLine(length: number, cut: boolean): void {
    if (this.silenced) return;
    switch (this.bucket?.take() ?? 'pass') {
      case 'pass':
        this.send(this.line, cut ? RecordType.cut : RecordType.msg, length);
        return;
      case 'first-drop':
        this.send(this.reply, RecordType.throttled, 0);
        return;
      case 'drop':
        return;
      case 'kick':
        this.silenced = true;
        this.send(this.reply, RecordType.flood, 0);
    }
  }

  sendReply(bytes: Buffer): void {
    bytes.copy(this.reply, RECORD_HEADER_BYTES);
    this.send(this.reply, RecordType.reply, bytes.length);
  }

  sendDisc(): void {
    this.send(this.reply, RecordType.disc, 0);
  }

  private send(buffer: Buffer, type: RecordTypeCode, dataLength: number): void {
    const size = writeRecordHeader(buffer, type, this.pid, dataLength);
    // Blocking and at most PIPE_BUF bytes: one atomic write, or we wait while the pipe is full.
    posix.write(this.plan.pipeWriteFd, buffer, 0, size);
    posix.kill(this.plan.parentPid, SIGUSR1);
  }
}

/** The input pipeline for a mode: bytes in, records out. */
interface Input {
  feed(chunk: Buffer, length: number): void;
  end(): void;
}

function classicInput(records: RecordWriter, maxLine: number): Input {
  const lines = new LineAssembler(records.line, RECORD_HEADER_BYTES, maxLine);
  const onLine = (length: number, cut: boolean): void => records.sendLine(length, cut);
  return { feed: (chunk, length) => lines.feed(chunk, length, onLine), end: () => lines.end(onLine) };
}

function chatInput(records: RecordWriter, maxLine: number): Input {
  const editor = new LineEditor(records.line, RECORD_HEADER_BYTES, maxLine, (length, cut) => records.sendLine(length, cut));
  const telnet = new TelnetDecoder({
    data: (byte) => editor.byte(byte),
    edit: (what) => (what === TelnetEdit.EraseChar ? editor.eraseChar() : editor.eraseLine()),
    reply: (bytes) => records.sendReply(bytes),
  });
  return { feed: (chunk, length) => telnet.feed(chunk, length), end: () => editor.end() };
}

function serveClient(plan: ChildPlan): void {
  const records = new RecordWriter(plan);
  const maxLine = Math.min(plan.maxLineBytes, MAX_RECORD_DATA_BYTES);
  const input = plan.inputMode === 'chat' ? chatInput(records, maxLine) : classicInput(records, maxLine);
  const chunk = Buffer.allocUnsafe(CLIENT_READ_BYTES);
  try {
    for (;;) {
      const n = posix.read(plan.clientFd, chunk);
      if (n === null || n === 0) break; // end of stream: the client closed, or the parent shut us down
      input.feed(chunk, n);
    }
    input.end();
  } catch {
    // ECONNRESET and the like: the client is gone, as with end of stream.
  }
  records.sendDisc();
}
