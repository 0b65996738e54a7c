/**
 * --trace: one line on stderr per IPC step, with a monotonic timestamp, so a learner
 * can follow a message from one telnet window through a child, the pipe and the
 * parent to the others. Children trace too: they write with the addon's synchronous
 * write(2) on stderr, since they may not touch Node's streams.
 */
import type { Tracer } from './contracts.js';
import * as posix from './posix/index.js';

const started = process.hrtime.bigint();

/** `[  1234.567 ms] parent 4242  text`, as bytes ready for write(2). */
function traceLine(pid: number, role: string, text: string): Buffer {
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return Buffer.from(`[${ms.toFixed(3).padStart(11)} ms] ${role.padEnd(6)} ${String(pid).padStart(7)}  ${text}\n`);
}

export const noTrace: Tracer = { enabled: false, line: () => {} };

export const stderrTrace: Tracer = {
  enabled: true,
  line(role, pid, text) {
    const bytes = traceLine(pid, role, text);
    try {
      posix.write(2, bytes);
    } catch {
      // stderr closed: tracing is best effort
    }
  },
};
