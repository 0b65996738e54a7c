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
import { LineAssembler, type LineSink } from './line-assembler.js';
import { LineEditor } from './line-editor.js';
import * as posix from './posix.js';
import { MAX_RECORD_BYTES, MAX_RECORD_DATA_BYTES, RECORD_HEADER_BYTES, RecordType, writeRecordHeader, type RecordTypeCode } from './record.js';
import { TokenBucket } from './rate-limit.js';
import { recordTypeName } from './record.js';
import { stderrTrace } from './trace.js';
import { TelnetDecoder, TelnetEdit, type TelnetSink } from './telnet.js';

/**
 * Bytes per read() of the client (the original read 1024). A client that sends
 * faster than its child is scheduled piles up lines in the socket: one large read
 * takes them all, and their records cost the parent one wake-up, not one per KiB.
 */
export const CLIENT_READ_BYTES = 16 * 1024;

/**
 * A client whose lines come back to back: its child's next read waits until this many
 * bytes have arrived, or BUSY_READ_WAIT_US have passed (see ReadPacing).
 */
export const BUSY_READ_LOW_WATER_BYTES = 4096;
export const BUSY_READ_WAIT_US = 500;

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
  /** --trace: say what goes into the pipe. */
  trace: boolean;
}

/** Lines a second, and the burst allowed above that. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

const SIGUSR1 = posix.signalNumber('SIGUSR1');
/** A child's name in ps, top and /proc/PID/comm; a spare's until it has a client. */
export const CHILD_NAME = 'posix-client';
export const SPARE_NAME = 'posix-spare';

/**
 * Runs the child's whole life and exits; never returns to the caller (or to the
 * event loop, which belongs to the parent).
 */
export function runChild(plan: ChildPlan): never {
  let code = 0;
  try {
    becomeChild(plan, CHILD_NAME);
    const records = new RecordWriter(plan);
    serveClient(plan, records, makeInput(plan, records), Buffer.allocUnsafe(CLIENT_READ_BYTES));
  } catch {
    code = 1; // nothing to tell: the parent notices the exit and reaps it
  }
  return posix._exit(code);
}

/**
 * A spare child, forked before its client exists: it does a new process's setup
 * (signals, name, its buffers and objects: the copy-on-write faults) while nobody
 * waits, then blocks until the parent hands it a client's socket on `handoff`, and
 * serves that client. Exits quietly if the parent closes `handoff` instead.
 */
export function runSpare(plan: ChildPlan, handoff: number): never {
  let code = 0;
  try {
    becomeChild(plan, SPARE_NAME);
    const records = new RecordWriter(plan);
    const input = makeInput(plan, records);
    const chunk = Buffer.allocUnsafe(CLIENT_READ_BYTES);
    if (!plan.trace) dryRun(input, records, chunk);
    const message = posix.recvFd(handoff, Buffer.alloc(16));
    posix.close(handoff);
    if (message === null || message.fd === null) return posix._exit(0);
    plan.clientFd = message.fd;
    posix.setProcessName(CHILD_NAME);
    serveClient(plan, records, input, chunk);
  } catch {
    code = 1;
  }
  return posix._exit(code);
}

/**
 * A spare's dry run, before its client exists: two lines through the input path into
 * the batch, which is then dropped (flood-control tokens too). The pages that path
 * writes (its objects and buffers, the stack) are shared with the zygote until written,
 * and each first write copies one: done now, that is not paid for after the client has
 * arrived. `perf sched timehist`, 40 joins: a new child's first run after the hand-off
 * took 1.7-2.0 ms of CPU on average, 1.2-1.4 ms with the dry run.
 */
function dryRun(input: Input, records: RecordWriter, chunk: Buffer): void {
  // Lines of a typical length, so only the pages a typical first line writes are copied
  // (each one more costs every idle client 4 KiB).
  const length = chunk.write(`a line\r\n${'x'.repeat(200)}\r\n`, 'latin1');
  input.feed(chunk, length);
  records.discard();
}

function becomeChild(plan: ChildPlan, name: string): void {
  // Die with the parent, even if it dies by SIGKILL; and if it already died between
  // fork() and here, leave now (we would have been re-parented).
  posix.setParentDeathSignal('SIGKILL');
  if (posix.getppid() !== plan.parentPid) posix._exit(1);
  posix.setProcessName(name); // in ps: which processes serve clients
  // Ctrl-C signals the whole foreground group: the parent shuts us down in order.
  posix.sigaction('SIGINT', 'ignore');
  for (const fd of plan.closeFds) posix.close(fd);
}

/**
 * Turns what the client sends into records. Records produced by one read of the
 * client go out together: as many whole records as fit in PIPE_BUF per write() (still
 * atomic), and one kill() per write, so a burst costs the parent one wake-up, not one
 * per line.
 */
class RecordWriter implements LineSink {
  /** Where the line editor assembles the current line, after room for a header. */
  readonly lineBuffer = Buffer.allocUnsafe(MAX_RECORD_BYTES);
  private readonly batch = Buffer.allocUnsafe(MAX_RECORD_BYTES);
  private batchLength = 0;
  /** Records in the batch. */
  private records = 0;
  /** Records written to the pipe since the last kill(). */
  private sent = 0;
  private readonly pid = posix.getpid();
  private readonly bucket: TokenBucket | null;
  /** Set once we asked the parent to disconnect a flooder: nothing more goes through. */
  private silenced = false;

  constructor(private readonly plan: ChildPlan) {
    this.bucket = plan.rateLimit === null ? null : new TokenBucket(plan.rateLimit.perSecond, plan.rateLimit.burst);
  }

  /** A line already assembled in `line` after the header (LineSink), if the rate limit lets it through. */
  line(length: number, cut: boolean): void {
    if (this.silenced) return;
    switch (this.bucket?.take() ?? 'pass') {
      case 'pass':
        this.queue(cut ? RecordType.cut : RecordType.msg, this.lineBuffer, length);
        return;
      case 'first-drop':
        this.queue(RecordType.throttled, this.lineBuffer, 0);
        return;
      case 'drop':
        return;
      case 'kick':
        this.silenced = true;
        this.queue(RecordType.flood, this.lineBuffer, 0);
    }
  }

  sendReply(bytes: Buffer): void {
    this.queue(RecordType.reply, bytes, bytes.length, 0);
  }

  /** Forgets what is batched, and any flood-control tokens spent on it: the spare's dry run. */
  discard(): void {
    this.batchLength = 0;
    this.records = 0;
    this.sent = 0;
    this.bucket?.refill();
  }

  sendDisc(): void {
    this.queue(RecordType.disc, this.lineBuffer, 0);
    this.flush();
  }

  /**
   * Sends what is batched and wakes the parent: once per read of the client. Returns
   * how many records went out since the last flush.
   */
  flush(): number {
    this.write();
    const sent = this.sent;
    if (sent === 0) return 0;
    this.sent = 0;
    posix.kill(this.plan.parentPid, SIGUSR1);
    if (this.plan.trace) stderrTrace.line('child', this.pid, `kill(${this.plan.parentPid}, SIGUSR1)`);
    return sent;
  }

  /** One atomic write of the whole records batched so far. */
  private write(): void {
    if (this.batchLength === 0) return;
    // Blocking: while the pipe is full we wait; no record is ever dropped.
    posix.write(this.plan.pipeWriteFd, this.batch, 0, this.batchLength);
    if (this.plan.trace) stderrTrace.line('child', this.pid, `write(pipe, ${this.batchLength} bytes): ${this.records} record(s)`);
    this.sent += this.records;
    this.batchLength = 0;
    this.records = 0;
  }

  /** Adds a record whose data is `source[from, from + length)` (default: after a header's room). */
  private queue(type: RecordTypeCode, source: Buffer, length: number, from = RECORD_HEADER_BYTES): void {
    if (this.batchLength + RECORD_HEADER_BYTES + length > this.batch.length) this.write();
    // A plain loop: Buffer#copy makes a view object per call, and the child must not allocate.
    const to = this.batchLength + RECORD_HEADER_BYTES;
    for (let i = 0; i < length; i++) this.batch[to + i] = source[from + i] as number;
    this.batchLength += writeRecordHeader(this.batch, this.batchLength, type, this.pid, length);
    this.records++;
    if (this.plan.trace) stderrTrace.line('child', this.pid, `record ${recordTypeName(type)}, ${length} bytes of data`);
  }
}

/** The input pipeline for a mode: bytes in, records out. */
interface Input {
  feed(chunk: Buffer, length: number): void;
  end(): void;
}

/** --classic: lines of raw bytes, as the original passed them on. */
class ClassicInput implements Input {
  private readonly lines: LineAssembler;

  constructor(private readonly records: RecordWriter, maxLine: number) {
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

  constructor(private readonly records: RecordWriter, maxLine: number) {
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

function makeInput(plan: ChildPlan, records: RecordWriter): Input {
  const maxLine = Math.min(plan.maxLineBytes, MAX_RECORD_DATA_BYTES);
  return plan.inputMode === 'chat' ? new ChatInput(records, maxLine) : new ClassicInput(records, maxLine);
}

/** Lines the parent runs through the child's code before the first fork. */
const WARM_UP_LINES = 3_000;

/**
 * Runs the child's input path in the parent, before any fork, on a throw-away pipe:
 * V8 then compiles and optimises it once, in the parent, and every child inherits
 * the result. Otherwise each child would compile it anew (synchronously, under
 * --single-threaded: measured at ~30 ms of CPU per child) and allocate as it goes.
 * The input varies (lengths, bytes, CRCs, telnet commands) so the optimised code
 * has seen what real clients send and no child hits a deoptimisation.
 *
 * @param planFor the server's own plan factory, so the objects have the same shape as a child's
 */
export function warmUpChildPath(planFor: (pipeWriteFd: number) => ChildPlan): void {
  const [readFd, writeFd] = posix.pipe();
  posix.setNonBlocking(readFd, true);
  const sink = Buffer.allocUnsafe(64 * 1024);
  const plan = planFor(writeFd);
  plan.trace = false; // the same object shape as a child's plan, but quiet
  try {
    const records = new RecordWriter(plan);
    const input = makeInput(plan, records);
    const samples = [
      'hello there',
      'a line \x1b[1mwith\x1b[0m an escape',
      'w\xc3\xb6rds \xe2\x82\xac and \xf0\x9f\x98\x80',
      'back\x08\x08space and \x7fdel',
      '\xff\xfb\x01telnet \xff\xfd\x03commands',
      'x'.repeat(600),
    ];
    let text = '';
    for (let i = 0; i < WARM_UP_LINES; i++) text += `${i} ${samples[i % samples.length] as string}${i % 3 === 0 ? '\n' : '\r\n'}`;
    const stream = Buffer.from(text, 'latin1');
    // Reads of every size a child meets, up to a full buffer of many lines: code that
    // only ever saw short reads is deoptimised by the first long one, in each child.
    const sizes = [1, 13, 100, 700, 2000, CLIENT_READ_BYTES];
    const chunk = Buffer.allocUnsafe(CLIENT_READ_BYTES);
    for (let at = 0, turn = 0; at < stream.length; turn++) {
      const length = stream.copy(chunk, 0, at, at + (sizes[turn % sizes.length] as number));
      at += length;
      input.feed(chunk, length);
      records.flush();
      while (posix.read(readFd, sink) !== null); // keep the pipe from filling
    }
    // Once through serveClient() itself, to end of stream: V8 compiles it here, not in
    // every child just after its client arrived.
    const [ours, theirs] = posix.socketpair();
    try {
      posix.write(theirs, stream, 0, 4096);
      posix.shutdown(theirs, 'SHUT_WR');
      plan.clientFd = ours;
      serveClient(plan, records, input, chunk);
    } finally {
      posix.close(ours);
      posix.close(theirs);
    }
  } finally {
    posix.close(readFd);
    posix.close(writeFd);
  }
}

/**
 * How long a child's read() waits. At first, and whenever the client has gone quiet, it
 * returns at the first byte: a line a person types goes on at once. When one read finds
 * several lines waiting (the client sends faster than its child is woken: a paste, a
 * bot), reads switch to waiting until BUSY_READ_LOW_WATER_BYTES have arrived or
 * BUSY_READ_WAIT_US have passed (SO_RCVLOWAT, SO_RCVTIMEO), so the child and the parent
 * wake once per batch of lines, not once per line. A wait that ends with nothing
 * (EAGAIN) switches back.
 */
class ReadPacing {
  private busy = false;

  constructor(private readonly fd: number) {}

  /** A read passed `lines` records on. */
  read(lines: number): void {
    if (this.busy || lines < 2) return;
    posix.setsockopt(this.fd, 'SO_RCVLOWAT', BUSY_READ_LOW_WATER_BYTES);
    posix.setsockopt(this.fd, 'SO_RCVTIMEO', BUSY_READ_WAIT_US);
    this.busy = true;
  }

  /** A read timed out with nothing: back to returning at the first byte. */
  quiet(): void {
    posix.setsockopt(this.fd, 'SO_RCVLOWAT', 1);
    posix.setsockopt(this.fd, 'SO_RCVTIMEO', 0);
    this.busy = false;
  }
}

/** Reads the client into `chunk` until it goes, passing every line on; then says goodbye. */
function serveClient(plan: ChildPlan, records: RecordWriter, input: Input, chunk: Buffer): void {
  const pacing = new ReadPacing(plan.clientFd);
  try {
    for (;;) {
      const n = posix.read(plan.clientFd, chunk);
      if (n === null) {
        pacing.quiet(); // a busy wait that ended with nothing
        continue;
      }
      if (n === 0) break; // end of stream: the client closed, or the parent shut us down
      input.feed(chunk, n);
      pacing.read(records.flush());
    }
    input.end();
  } catch {
    // ECONNRESET and the like: the client is gone, as with end of stream.
  }
  records.sendDisc();
}
