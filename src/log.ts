/**
 * The server's log: one line per event on stderr, with a level. Writes are
 * synchronous (stderr is a file, pipe or TTY: all synchronous on Linux), so a
 * line is out before the loop goes on, even though the loop never yields.
 * Only the parent logs: a forked child must not touch process.stderr.
 */

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
    this.sink(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}\n`);
  }
}

/** The message of whatever was thrown: an Error's own, else the value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
