/**
 * pipe(): a one-way channel made before fork(), so parent and child both hold it.
 * The child writes a length-prefixed record; the parent reads it back. A write of at
 * most PIPE_BUF bytes is atomic, which is what lets many children share one pipe.
 * Run: node --single-threaded dist/tools/examples/pipe.js
 */
import { _exit, close, fork, getpid, pipe, PIPE_BUF, read, waitpid, write } from 'posix-chat/posix';

const [readFd, writeFd] = pipe();
const pid = fork();
if (pid === 0) {
  close(readFd); // the child only writes
  const text = Buffer.from(`hello from child ${getpid()}`);
  const record = Buffer.alloc(4 + text.length);
  record.writeUInt32LE(text.length, 0); // the original's 4-byte little-endian length
  text.copy(record, 4);
  write(writeFd, record);
  _exit(0);
}
close(writeFd); // so read() sees end of file once the child is done
const buffer = Buffer.alloc(PIPE_BUF);
let got = 0;
for (let n = read(readFd, buffer); n !== null && n > 0; n = read(readFd, buffer, got)) got += n;
const length = buffer.readUInt32LE(0);
console.log(`parent: read ${got} bytes; length header says ${length}: "${buffer.toString('utf8', 4, 4 + length)}"`);
console.log(`parent: PIPE_BUF is ${PIPE_BUF}: records up to that size never interleave`);
waitpid(pid, 0);
