/**
 * Warming the child's code up, so no child compiles or copies what it could share.
 * Two mechanisms live here and in ./spare.ts, and two in src/parent/rehearsal.ts;
 * all four use SAMPLE_LINES:
 * - warmUpChildPath(): the parent runs the child's input path before any fork, so
 *   V8 optimises it once and every child inherits the result, then a spare's whole
 *   life on a connection, so no child compiles any of it;
 * - dryRun() (./spare.ts): a spare runs its input path once before its client comes,
 *   so the copy-on-write faults of that path are paid while nobody waits.
 * Why each one is needed: docs/architecture.md, "The traps"; figures: docs/bench.md.
 */
import type { ChildPlan, Framing } from '../contracts.js';
import * as posix from '../posix/index.js';
import { Opcode, writeFrameHeader } from '../protocol/websocket.js';
import { makeInput, type Input, type LineRecords } from './input.js';
import { CLIENT_READ_BYTES, ReadPacing } from './serve-client.js';
import { HANDOFF_BYTE, HANDOFF_PROXY_BIT, makeSpareKit, serveSpare } from './spare.js';

/**
 * What clients type, as the bytes a child reads: plain text, escape sequences,
 * UTF-8 (written byte by byte, as latin1), editing keys, telnet commands, commands,
 * long and short lines. The warm-up feeds them raw; the rehearsal cleans them first.
 */
export const SAMPLE_LINES: readonly string[] = [
  'hello there',
  'a line \x1b[1mwith\x1b[0m an escape',
  'w\xc3\xb6rds \xe2\x82\xac and \xf0\x9f\x98\x80',
  'back\x08\x08space and \x7fdel',
  '\xff\xfb\x01telnet \xff\xfd\x03commands',
  '/me waves',
  '//a line that starts with a slash',
  'x'.repeat(600),
  'x',
];

/** What a trusted proxy sends first (PROXY protocol version 1), for the warm-up. */
const WARM_UP_PROXY_HEADER = Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 40000 23\r\n', 'latin1');

/** Lines the parent runs through the child's code before the first fork. */
const WARM_UP_LINES = 3_000;
/**
 * Typed lines per warm-up web life: each is a message of its own on the life's
 * socketpair, all written before the life is served, within the socket's send buffer.
 */
const TYPED_PER_LIFE = 64;

/**
 * Runs the child's input path in the parent, before any fork, on a throw-away pipe:
 * V8 then compiles and optimises it once, in the parent, and every child inherits
 * the result. Otherwise each child would compile it anew (synchronously, under
 * --single-threaded) and allocate as it goes. The input varies (lengths, bytes, CRCs,
 * telnet commands) so the optimised code has seen what real clients send and no
 * child hits a deoptimisation. Then a spare's whole life, on socketpairs.
 *
 * @param planFor the server's own plan factory, so the objects have the same shape as a child's
 */
export function warmUpChildPath(planFor: (pipeWriteFd: number) => ChildPlan): void {
  const [readFd, writeFd] = posix.pipe();
  posix.setNonBlocking(readFd, true);
  const sink = Buffer.allocUnsafe(64 * 1024);
  const drain = (): void => {
    while (posix.read(readFd, sink) !== null); // keep the pipe from filling
  };
  const plan = planFor(writeFd);
  plan.trace = false; // the same object shape as a child's plan, but quiet
  // Flood control of the same shape as a child's, but one that never runs dry, so every
  // line goes all the way to the pipe; the real limit gets a flood of its own below.
  const rateLimit = plan.rateLimit;
  if (rateLimit !== null) plan.rateLimit = { perSecond: Number.MAX_SAFE_INTEGER, burst: Number.MAX_SAFE_INTEGER };
  try {
    let text = '';
    for (let i = 0; i < WARM_UP_LINES; i++) text += `${i} ${SAMPLE_LINES[i % SAMPLE_LINES.length] ?? ''}${i % 3 === 0 ? '\n' : '\r\n'}`;
    const stream = Buffer.from(text, 'latin1');
    const chunk = Buffer.allocUnsafe(CLIENT_READ_BYTES);
    const reads = sizedReads(stream);
    feedReads(makeInput(plan), reads, chunk, drain);
    // A flooder, with the server's own limit: throttled, then told to go.
    if (rateLimit !== null) feedReads(makeInput({ ...plan, rateLimit }), reads, chunk, drain);
    for (const [framing, proxy, bytes] of lives(plan, stream.subarray(0, 4096))) liveOnce(plan, framing, proxy, bytes, chunk, drain);
    // A busy client's reads going quiet again (serveClient's pacing), which a socket read
    // to its end, as above, never does.
    const [ours, theirs] = posix.socketpair();
    try {
      const pacing = new ReadPacing(ours);
      pacing.read(2);
      pacing.quiet();
    } finally {
      posix.close(ours);
      posix.close(theirs);
    }
    // Last, clients typing: one line per read, over telnet and over a WebSocket. Also what
    // the steps above taught V8 (a value it had not seen, which threw some code away) is
    // optimised again now, before the fork, not in every child.
    const typed = typedLines(stream);
    feedReads(makeInput(plan), typed, chunk, drain);
    for (let at = 0; plan.web !== null && at < typed.length; at += TYPED_PER_LIFE) {
      liveOnce(plan, 'websocket', false, [WEB_UPGRADE, ...typed.slice(at, at + TYPED_PER_LIFE).map(textFrame)], chunk, drain);
    }
  } finally {
    posix.close(readFd);
    posix.close(writeFd);
  }
}

/**
 * `stream` in reads of every size a child meets, up to a full buffer of many lines: code
 * that only ever saw short reads is deoptimised by the first long one, in each child.
 */
function sizedReads(stream: Buffer): Buffer[] {
  const sizes = [1, 13, 100, 700, 2000, CLIENT_READ_BYTES];
  const reads: Buffer[] = [];
  for (let at = 0; at < stream.length; at += reads.at(-1)?.length ?? 0) {
    reads.push(stream.subarray(at, at + (sizes[reads.length % sizes.length] ?? 1)));
  }
  return reads;
}

/**
 * `stream` as a client typing sends it: a read per line. The path each read takes (a
 * record, a pipe write, a wake-up) then runs once per line, where sizedReads() gives it a
 * few dozen runs in all. Code that had not reached V8's optimising compiler by the
 * zygote's fork got there in every child at once, each compiling its own copy on its
 * only thread (docs/bench.md, "The latency tail").
 */
function typedLines(stream: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let at = 0; at < stream.length; ) {
    const end = stream.indexOf(0x0a, at);
    const next = Math.min(end < 0 ? stream.length : end + 1, at + CLIENT_READ_BYTES);
    lines.push(stream.subarray(at, next));
    at = next;
  }
  return lines;
}

/** Feeds each of `reads` to a fresh input as a read of its own, as a child's loop does. */
function feedReads({ records, input }: { records: LineRecords; input: Input }, reads: readonly Buffer[], chunk: Buffer, drain: () => void): void {
  for (const read of reads) {
    input.feed(chunk, read.copy(chunk));
    records.flush();
    drain();
  }
}

/**
 * The lives a spare can lead, as what its peer sends, each message a write() of its own
 * (the socketpair keeps message boundaries; a proxy's header comes alone, as it would):
 * a telnet client's, one behind a trusted proxy, and with --web-port a browser's (a
 * page's head, the WebSocket handshake, a message, a ping and a close).
 */
function lives(plan: ChildPlan, telnet: Buffer): [Framing, boolean, Buffer[]][] {
  const all: [Framing, boolean, Buffer[]][] = [
    ['telnet', false, [telnet]],
    ['telnet', true, [WARM_UP_PROXY_HEADER, telnet]],
  ];
  if (plan.web !== null) all.push(['websocket', false, [webClientStream()]]);
  return all;
}

/**
 * One spare's life, from its dry run to its goodbye, on socketpairs: the client's socket
 * handed over as the parent hands it, the first look for a PROXY header, the reads to end
 * of stream. Without this, V8 compiled each of those functions again in every child,
 * after its client had arrived (docs/bench.md, "Where the burst cost went").
 */
function liveOnce(plan: ChildPlan, framing: Framing, proxy: boolean, messages: Buffer[], chunk: Buffer, drain: () => void): void {
  const opened: number[] = [];
  try {
    const [ours, theirs] = posix.socketpair();
    opened.push(ours, theirs);
    const [handoffOurs, handoffTheirs] = posix.socketpair();
    opened.push(handoffOurs, handoffTheirs);
    // Never blocks: past what the socket's send buffer holds, the rest is left out.
    posix.setNonBlocking(theirs, true);
    for (const message of messages) if (posix.write(theirs, message) === null) break;
    posix.shutdown(theirs, 'SHUT_WR');
    posix.sendFd(handoffOurs, ours, Buffer.from([HANDOFF_BYTE[framing] | (proxy ? HANDOFF_PROXY_BIT : 0)]));
    const kit = makeSpareKit(plan, chunk);
    opened.pop(); // serveSpare closes the hand-off socket it is given, whatever happens
    serveSpare(plan, handoffTheirs, kit, () => {});
    drain();
  } finally {
    if (plan.clientFd !== -1) posix.close(plan.clientFd); // the copy the hand-off made
    plan.clientFd = -1;
    for (const fd of opened) posix.close(fd);
  }
}

/** One frame as a browser sends it: final and masked (RFC 6455 section 5.3). */
function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const mask = [0x12, 0x34, 0x56, 0x78];
  const head = Buffer.alloc(10); // the longest header before the mask: 2 bytes and a 64-bit length
  const at = writeFrameHeader(head, opcode, payload.length);
  head[1] = (head[1] ?? 0) | 0x80; // the mask bit
  const frame = Buffer.concat([head.subarray(0, at), Buffer.from(mask), payload]);
  for (let i = 0; i < payload.length; i++) frame[at + 4 + i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return frame;
}

/** A browser's WebSocket handshake. */
const WEB_UPGRADE = Buffer.from(
  'GET /ws HTTP/1.1\r\nHost: warm-up\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  'latin1',
);

/** A typed line as a browser's message: its text without the line end, in UTF-8 as a browser sends it. */
function textFrame(line: Buffer): Buffer {
  const text = line.toString('latin1').replace(/\r?\n$/, '');
  return maskedFrame(Opcode.text, Buffer.from(text, 'utf8'));
}

/** What the warm-up's browser sends a web child. */
function webClientStream(): Buffer {
  return Buffer.concat([
    Buffer.from('HEAD / HTTP/1.1\r\nHost: warm-up\r\n\r\n', 'latin1'),
    WEB_UPGRADE,
    maskedFrame(Opcode.text, Buffer.from(`${SAMPLE_LINES[0] ?? ''}\r\n${SAMPLE_LINES[2] ?? ''}`, 'latin1')),
    maskedFrame(Opcode.ping, Buffer.from('warm-up')),
    maskedFrame(Opcode.close, Buffer.from([0x03, 0xe8])), // 1000, normal
  ]);
}
