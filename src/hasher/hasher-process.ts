/**
 * The password hasher: a separate program (started by the parent with fork() +
 * execve(), so a fresh Node process) that does the one slow thing the chat needs,
 * scrypt, so the server's loop never waits for it. It reads requests from its own
 * pipe (fd 0) and answers each, as soon as it is done, with a record on the
 * parent's pipe (fd 3) followed by SIGUSR1, the way a child hands over a line.
 *
 * One request at a time, synchronously: nothing else runs here, so there is no
 * event loop to keep and no thread pool to wait on. It never logs a password.
 */
import { readSync, writeSync } from 'node:fs';
import { Logger, LOG_LEVELS, messageOf } from '../log.js';
import { PipeWriter } from '../pipe/writer.js';
import { RecordDecoder, RecordType, type PipeRecord, type RecordSink } from '../protocol/record.js';
import { decodeToHasher, HASHER_NAME, type FromHasher } from './protocol.js';
import { hashPassword, verifyPassword } from './scrypt.js';

const FROM_PARENT_FD = 0;
const TO_PARENT_FD = 3;

const level = LOG_LEVELS.find((name) => name === process.env.POSIX_CHAT_LOG_LEVEL) ?? 'info';
const log = new Logger(level, (line) => void writeSync(2, line.replace(/^(\S+ \S+ +)/, '$1hasher: ')));
const parentPid = process.ppid;
const writer = new PipeWriter(
  {
    write: (buffer, length) => void writeSync(TO_PARENT_FD, buffer, 0, length),
    wake: () => void process.kill(parentPid, 'SIGUSR1'),
  },
  process.pid,
);

/** Sends `message` at once: each answer wakes the parent, so nobody waits for the next one's scrypt. */
function send(message: FromHasher): void {
  const data = Buffer.from(JSON.stringify(message));
  writer.queue(RecordType.hasher, data, 0, data.length);
  writer.flush();
}

function answer(record: PipeRecord): void {
  const request = record.type === RecordType.hasher ? decodeToHasher(record.data) : null;
  if (request === null) return log.error(`unreadable request from the server (record type ${record.type})`);
  try {
    if (request.op === 'hash') send({ t: 'hashed', id: request.id, hash: hashPassword(request.password) });
    else send({ t: 'verified', id: request.id, ok: verifyPassword(request.password, request.stored) });
  } catch (error) {
    log.error(`request ${request.id} failed: ${messageOf(error)}`);
    send({ t: 'failed', id: request.id });
  }
}

process.title = HASHER_NAME; // the name in ps, and in /proc/PID/comm (libuv sets both)
const decoder = new RecordDecoder(({ discardedBytes }) => log.error(`skipped ${discardedBytes} bad bytes from the server`));
/** The next bytes from the server (blocking); 0 when it closed our pipe: it is stopping, or gone. */
function readRequests(): number {
  for (;;) {
    try {
      return readSync(FROM_PARENT_FD, decoder.buffer, decoder.end, decoder.room, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINTR') throw error; // libuv does not retry a read
    }
  }
}

send({ t: 'ready' });
const requests: RecordSink = { record: answer };
for (let got = readRequests(); got > 0; got = readRequests()) decoder.commit(got, requests);
