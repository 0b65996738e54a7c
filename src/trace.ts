/**
 * --trace: one line on stderr per IPC step, stamped by the log's clock, so a learner
 * can follow a message from one telnet window through a child, the pipe and the
 * parent to the others. Children trace too: they write with the addon's synchronous
 * write(2) on stderr, since they may not touch Node's streams.
 */
import type { Tracer } from './contracts.js';
import { clockText } from './log.js';
import * as posix from './posix/index.js';

/** `2026-11-29T07:50:01.123456Z TRACE parent    4242  text`, as bytes ready for write(2). */
function traceLine(pid: number, role: string, text: string): Buffer {
  return Buffer.from(`${clockText()} TRACE ${role.padEnd(6)} ${String(pid).padStart(7)}  ${text}\n`);
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
