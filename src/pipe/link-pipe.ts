/**
 * The pipe's writing end for the Redis link, a process with an event loop of its
 * own: the same PipeWriter as a child's, over Node's writeSync() and process.kill(),
 * flushed once per turn of the event loop.
 */
import { writeSync } from 'node:fs';
import type { FromLink } from '../cluster/protocol.js';
import { MAX_RECORD_DATA_BYTES, RecordType } from '../protocol/record.js';
import { PipeWriter } from './writer.js';

/**
 * Records to the parent: whole records per write (atomic, <= PIPE_BUF), one SIGUSR1 per turn of the event loop.
 */
export class LinkPipe {
  private readonly writer: PipeWriter;
  private flushDue = false;

  constructor(fd: number, parentPid: number) {
    const io = {
      write: (buffer: Buffer, length: number): void => void writeSync(fd, buffer, 0, length),
      wake: (): void => void process.kill(parentPid, 'SIGUSR1'),
    };
    this.writer = new PipeWriter(io, process.pid);
  }

  /** Sends `message`; false (and nothing sent) when it cannot fit in one record. */
  send(message: FromLink): boolean {
    const data = Buffer.from(JSON.stringify(message));
    if (data.length > MAX_RECORD_DATA_BYTES) return false; // only a stream entry not written by posix-chat can be this big
    this.writer.queue(RecordType.link, data, 0, data.length);
    if (this.flushDue) return true;
    this.flushDue = true;
    // Every record written in this turn of the event loop shares one wake-up.
    queueMicrotask(() => {
      this.flushDue = false;
      this.writer.flush();
    });
    return true;
  }
}

