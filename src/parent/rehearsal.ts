/**
 * Warming the parent's own code up before the first client; the child's warm-up
 * is src/child/warm-up.ts, and both use its SAMPLE_LINES.
 * - rehearse(): made-up clients chat through the loop's own steps, so V8 optimises
 *   the per-line path now. Under --single-threaded V8 compiles on the main thread,
 *   and without a rehearsal the first minutes of real chat stall once per hot
 *   function as it gets optimised (docs/architecture.md, "The traps").
 * - churnYoungGeneration(): the first garbage collections after the zygote's fork,
 *   which copy pages, run before anyone waits.
 */
import { messageOf, type Logger } from '../log.js';
import * as posix from '../posix/index.js';
import type { Accepted } from './socket-server.js';
import { cleanLines } from '../protocol/line-editor.js';
import { RecordType, type RecordTypeCode } from '../protocol/record.js';
import { PipeWriter } from '../pipe/writer.js';
import { SAMPLE_LINES } from '../child/warm-up.js';
import { minuteStamp } from '../chat/rules.js';

/** The loop's own steps, on a stand-in server with its own pipe, chat and silent log. */
export interface RehearsalStage {
  /** Where made-up children write their records. */
  readonly pipeWriteFd: number;
  /** A client whose child is `pid` joins. */
  admit(pid: number, socket: Accepted): void;
  /** One loop turn: the wait (not waiting), drain the pipe, route every record, send. */
  turn(): void;
  /** Ends every connection and closes the stage's pipe. */
  close(): void;
}

/** Rounds, clients and lines per round. */
const ROUNDS = 10;
const CLIENTS = 8;
const LINES_PER_ROUND = 400;
/**
 * The pids the made-up clients have: above Linux's PID_MAX_LIMIT, so never a real
 * process's, yet small integers like real ones, for V8.
 */
const FIRST_PID = 4_194_304 + 1;
/**
 * Then newcomers, one a turn, each saying a line, at most NEWCOMERS_AT_ONCE of them
 * in at a time: the join path runs as often as in a busy first minute.
 */
const NEWCOMERS = 400;
const NEWCOMERS_AT_ONCE = 48;
/**
 * Minutes stamped before the rounds. A line's stamp is made once a minute (minuteStamp()),
 * and the rounds last less than one. V8 gives a function its feedback vector only once it
 * has run a while (8 calls in Node 24; a budget of bytecode run in Node 20), so the stamp
 * the rounds would make, at their first call, would leave no feedback. Optimised code
 * would then first see a stamp made at the first minute's turn after start, and throw the
 * whole line path away there. Hence more than a few minutes.
 */
const STAMPED_MINUTES = 32;
/** The longest sample line, once cleaned. */
const MAX_SAMPLE_BYTES = 1024;

/**
 * Clients on socketpairs, with pids no process can have and no child, send lines
 * through the stage's pipe as children would; the loop's own steps route and send
 * them, and the clients read it all; then they leave. Rounds of newcomers: code
 * optimised in one round meets fresh connections (new objects, empty arrays) in the
 * next, as it will meet real ones.
 */
export function rehearse(stage: RehearsalStage): void {
  // What children would make of the samples: clean lines.
  const lines = SAMPLE_LINES.flatMap((sample) => cleanLines(Buffer.from(`${sample}\n`, 'latin1'), MAX_SAMPLE_BYTES));
  const io = { write: (buffer: Buffer, length: number) => void posix.write(stage.pipeWriteFd, buffer, 0, length), wake: () => {} };
  const peers: number[] = [];
  const sink = Buffer.allocUnsafe(64 * 1024);
  const say = (from: PipeWriter, type: RecordTypeCode, text: string): void => {
    const data = Buffer.from(text);
    from.queue(type, data, 0, data.length);
    from.flush();
  };
  let turns = 0;
  const turn = (): void => {
    stage.turn();
    // The first client reads only now and then, through a small buffer: the paths
    // for a socket that takes part of its output, or none, get rehearsed too.
    for (const [i, peer] of peers.entries()) {
      if (i > 0 || ++turns % 16 === 0) while ((posix.read(peer, sink) ?? 0) > 0); // null: read it all; 0: closed
    }
  };
  for (let minute = 0; minute < STAMPED_MINUTES; minute++) minuteStamp(minute * 60_000);
  let pid = FIRST_PID;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const writers: PipeWriter[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        // Each made-up socket has its keys in accept()'s order (the addon's, then the
        // framing): the same hidden class as a real one, so code optimised here keeps.
        const [ours, theirs] = posix.socketpair();
        posix.setNonBlocking(theirs, true);
        if (i === 0) posix.setsockopt(ours, 'SO_SNDBUF', 1);
        peers.push(theirs);
        writers.push(new PipeWriter(io, pid));
        stage.admit(pid++, { address: '127.0.0.1', port: 1 + i, family: 'IPv4', fd: ours, framing: 'telnet' });
        turn();
      }
      // A room of its own each round for one client: a room's first line makes its history,
      // which a real server's first line in a room does too, and which V8 would otherwise
      // see first after it optimised the line path (and throw that code away).
      const mover = writers[1];
      if (mover !== undefined) say(mover, RecordType.msg, `/join #rehearsal-${round}`);
      for (let n = 0; n < LINES_PER_ROUND; n++) {
        const writer = writers[n % writers.length];
        if (writer !== undefined) say(writer, RecordType.msg, `${n} ${lines[n % lines.length] ?? ''}`);
        if (n % 4 === 3) turn(); // a few records per pipe read, as under load
      }
      for (const leaving of writers) say(leaving, RecordType.disc, '');
      turn();
      for (const fd of peers.splice(0)) posix.close(fd);
    }
    // A stream of newcomers. The rounds above join 80 clients in all; a busy server joins
    // hundreds in its first minutes, and each function on the join path (the welcome, the
    // notices about arrivals, a room's pending notices handed to whoever is told something)
    // was optimised during real joins, each a stall of the loop (--trace-opt; docs/bench.md,
    // "The join tail"), until this.
    // Someone leaves first, in a turn of its own: the room's notice that it left waits for
    // company, and the newcomer's welcome, sent to it alone, takes its share first.
    const present: { writer: PipeWriter; peer: number }[] = [];
    for (let n = 0; n < NEWCOMERS; n++) {
      const leaving = present.length >= NEWCOMERS_AT_ONCE ? present.shift() : undefined;
      if (leaving !== undefined) {
        say(leaving.writer, RecordType.disc, '');
        turn();
        peers.splice(peers.indexOf(leaving.peer), 1);
        posix.close(leaving.peer);
      }
      const [ours, theirs] = posix.socketpair();
      posix.setNonBlocking(theirs, true);
      peers.push(theirs);
      const writer = new PipeWriter(io, pid);
      stage.admit(pid++, { address: '127.0.0.1', port: 1 + (n % 60_000), family: 'IPv4', fd: ours, framing: 'telnet' });
      present.push({ writer, peer: theirs });
      say(writer, RecordType.msg, `${n} ${lines[n % lines.length] ?? ''}`);
      turn();
    }
  } finally {
    stage.close();
    for (const fd of peers) posix.close(fd);
  }
}

/**
 * Rehearses on the stage `makeStage` sets up; a failure is logged, not thrown: only
 * speed depends on it (EMFILE with a tiny descriptor limit, say).
 */
export function rehearseOn(makeStage: () => RehearsalStage, log: Logger): void {
  try {
    rehearse(makeStage());
  } catch (error) {
    log.warn(`start-up rehearsal failed: ${messageOf(error)}; the first minutes may be slower`);
  }
}

/** Objects allocated and dropped at once, enough for a few scavenges of the young generation. */
const CHURN_OBJECTS = 300_000;
let churned: unknown = null;
/**
 * Right after the zygote is forked, every heap page the parent writes is copy-on-write
 * and gets copied on its first write. A scavenge writes a whole semi-space, so the first
 * ones after the fork are much slower than later ones (--trace-gc). Run them now,
 * before any client waits on the loop.
 */
export function churnYoungGeneration(): void {
  for (let i = 0; i < CHURN_OBJECTS; i++) churned = { i, next: churned === null ? null : i };
  churned = null;
}
