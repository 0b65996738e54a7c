/**
 * What runs in a forked child (the original's SocketClientBroadcast): read the
 * client, turn each complete line into a record on the pipe, wake the parent
 * with SIGUSR1; on the way out a `disc` record, then `_exit`.
 *
 * The child has only the thread that called fork() (FORK-IN-NODE.md fact 4), so it
 * uses nothing but synchronous addon calls: no timers, promises, console.log or
 * process.exit. Its buffers are made once, so it allocates nothing per message.
 */
import { LineAssembler } from './line-assembler.js';
import * as posix from './posix.js';
import { MAX_RECORD_BYTES, MAX_RECORD_DATA_BYTES, RECORD_HEADER_BYTES, RecordType, writeRecordHeader } from './record.js';

/** What the original read per call. */
export const CLIENT_READ_BYTES = 1024;

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

function serveClient(plan: ChildPlan): void {
  const pid = posix.getpid();
  const record = Buffer.allocUnsafe(MAX_RECORD_BYTES);
  const input = Buffer.allocUnsafe(CLIENT_READ_BYTES);
  const maxLine = Math.min(plan.maxLineBytes, MAX_RECORD_DATA_BYTES);
  const lines = new LineAssembler(record, RECORD_HEADER_BYTES, maxLine);

  const sendRecord = (type: typeof RecordType.msg | typeof RecordType.disc, dataLength: number): void => {
    const size = writeRecordHeader(record, type, pid, dataLength);
    // Blocking and at most PIPE_BUF bytes: one atomic write, or we wait while the pipe is full.
    posix.write(plan.pipeWriteFd, record, 0, size);
    posix.kill(plan.parentPid, SIGUSR1);
  };
  const onLine = (length: number): void => sendRecord(RecordType.msg, length);

  try {
    for (;;) {
      const n = posix.read(plan.clientFd, input);
      if (n === null || n === 0) break; // end of stream: the client closed, or the parent shut us down
      lines.feed(input, n, onLine);
    }
    lines.end(onLine);
  } catch {
    // ECONNRESET and the like: the client is gone, as with end of stream.
  }
  sendRecord(RecordType.disc, 0);
}
