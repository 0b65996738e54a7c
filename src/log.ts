/**
 * The server's log: one line per event on stderr, with a level. Writes are
 * synchronous (stderr is a file, pipe or TTY: all synchronous on Linux), so a
 * line is out before the loop goes on, even though the loop never yields.
 * Only the parent logs: a forked child must not touch process.stderr.
 */
import { performance } from 'node:perf_hooks';
import { formatHostPort } from './protocol/address.js';

/**
 * The one clock of the log and of --trace: the wall clock in ISO 8601, UTC, to the
 * microsecond (a message crosses three processes in well under a millisecond).
 */
export function clockText(): string {
  const micros = Math.round((performance.timeOrigin + performance.now()) * 1000);
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, -1)}${String(micros % 1000).padStart(3, '0')}Z`;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class Logger {
  private readonly threshold: number;

  constructor(level: LogLevel = 'info', private readonly sink: (line: string) => void = (line) => process.stderr.write(line)) {
    this.threshold = LOG_LEVELS.indexOf(level);
  }

  private enabled(level: Exclude<LogLevel, 'silent'>): boolean {
    return LOG_LEVELS.indexOf(level) >= this.threshold;
  }

  debug(message: string): void {
    this.write('debug', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  warn(message: string): void {
    this.write('warn', message);
  }
  error(message: string): void {
    this.write('error', message);
  }

  private write(level: Exclude<LogLevel, 'silent'>, message: string): void {
    if (!this.enabled(level)) return;
    this.sink(`${clockText()} ${level.toUpperCase().padEnd(5)} ${message}\n`);
  }
}

/** The message of whatever was thrown: an Error's own, else the value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A log for errors that can repeat every loop turn (accept() failing for want of
 * descriptors): at most one line per `intervalMs`, saying how many were held back.
 */
export class ThrottledLog {
  private last = 0;
  private held = 0;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  warn(message: string): void {
    this.write('warn', message);
  }

  error(message: string): void {
    this.write('error', message);
  }

  private write(level: 'warn' | 'error', message: string): void {
    const now = Date.now();
    if (now - this.last < this.intervalMs) {
      this.held++;
      return;
    }
    const more = this.held > 0 ? ` (and ${this.held} more like it since the last)` : '';
    this.held = 0;
    this.last = now;
    this.log[level](message + more);
  }
}

/** `127.0.0.1:50312 (pid 4242)`: a connection in log lines. */
export function describeConnection(connection: { address: string; port: number; pid: number }): string {
  return `${formatHostPort(connection.address, connection.port)} (pid ${connection.pid})`;
}
