/**
 * The parent process (the original's SocketServerBroadcast): accepts, forks one
 * child per connection, sleeps in sigtimedwait() until a child's SIGUSR1 (or a
 * new connection) wakes it, drains every record from the pipe, hands each to the
 * chat logic, sends what that produced, and reaps children that ended.
 *
 * The loop never returns to Node's event loop: every call in it is synchronous.
 */
import { runChild, warmUpChildPath, type ChildPlan, type InputMode, type RateLimit } from './client.js';
import { Fanout, type FanoutSink } from './fanout.js';
import { Zygote, ZygoteGoneError } from './zygote.js';
import { Logger } from './log.js';
import { Outbox } from './outbox.js';
import * as posix from './posix.js';
import type { AcceptedSocket, SignalInfo, WaitResult } from './posix.js';
import { MAX_RECORD_BYTES, PIPE_READ_BYTES, RECORD_HEADER_BYTES, RecordDecoder, RecordType, recordTypeName, writeRecordHeader, type PipeRecord, type RecordTypeCode } from './record.js';
import { noTrace, type Tracer } from './trace.js';
import { SocketServer, type ListenOptions } from './socket-server.js';

/** The original's wait: wake at least once a second even if nothing happens. */
export const SIGNAL_WAIT_SECONDS = 1;
/** How long after a spare child takes a client the zygote is asked for the next one. */
export const NEXT_SPARE_DELAY_MS = 10;
/** While some client's output is queued, look again this soon. */
export const PENDING_OUTPUT_WAIT_SECONDS = 0.01;
/** A client over the sendq limit that has taken nothing for this long is not reading: cut it off. */
export const STALLED_READER_MS = 1000;
/** A client still reading, but slower than its share, is cut off at this many times the sendq limit. */
export const SENDQ_HARD_FACTOR = 4;
/** The kernel's send buffer for each client socket (Linux doubles it for bookkeeping). */
export const CLIENT_SNDBUF_BYTES = 64 * 1024;
/** How long children get to exit after SIGTERM at shutdown before SIGKILL. */
export const CHILD_EXIT_GRACE_MS = 1000;
/** Pipe reads per wake-up before the loop goes round (accepts, flushes) and comes back. */
const MAX_PIPE_READS_PER_TURN = 8;

/**
 * The start-up rehearsal (rehearse()): rounds, clients and lines per round, the pids
 * the clients pretend to have (above Linux's PID_MAX_LIMIT, so never a real process's,
 * yet small integers like real ones, for V8), and what they say.
 */
const REHEARSAL_ROUNDS = 10;
const REHEARSAL_CLIENTS = 8;
const REHEARSAL_LINES_PER_ROUND = 400;
const REHEARSAL_FIRST_PID = 4_194_304 + 1;
const REHEARSAL_SAMPLES = ['hello there', 'w\u00f6rds \u20ac and \u{1f600}', '/me waves', 'a'.repeat(300), '//a line that starts with a slash', 'x'];

/** Signals that stop the server. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
/**
 * Everything the loop waits for: SIGUSR1 (a child's record, or a new connection),
 * SIGCHLD (a child ended: reap it now rather than on the next wake-up; reaping does
 * not depend on it, fact 6) and the stop requests. bin/posix-chat.cjs blocks the same list.
 */
export const WAIT_SIGNALS: readonly NodeJS.Signals[] = ['SIGUSR1', 'SIGCHLD', ...STOP_SIGNALS];
const STOP_SIGNAL_NUMBERS = new Set(STOP_SIGNALS.map(posix.signalNumber));

/** The parent's view of one client. */
export interface Connection {
  /** The child serving this client: the key of `connections`, and the `pid` in its records. */
  readonly pid: number;
  /** The client's socket; the parent writes to it, the child reads from it. */
  readonly fd: number;
  /** The client's (peer's) address and port. */
  readonly address: string;
  readonly port: number;
  /** When its last line arrived (ms since the epoch): for /who and the idle timeout. */
  lastActive: number;
  readonly outbox: Outbox;
}

/**
 * closed: the client hung up; lost: its child died or its socket failed; quit: it said
 * /quit; kicked: the server ended it (detail says why); timeout: idle too long;
 * shutdown: the server is stopping.
 */
export type DisconnectKind = 'closed' | 'lost' | 'quit' | 'kicked' | 'timeout' | 'shutdown';
export interface DisconnectReason {
  kind: DisconnectKind;
  /** Human words for logs and notices: 'send queue over 262144 bytes'. */
  detail?: string;
}

/** What the chat logic can ask of the server. */
export interface Delivery {
  /** Queues `data` for one client, after anything queued for it before. The same Buffer may go to many: it is never modified. */
  send(connection: Connection, data: Buffer): void;
  /** Queues `data` for every connected client except `except`. */
  broadcast(data: Buffer, except?: Connection): void;
  /** A new, empty group of clients (a room) to send lines to at the cost of one. */
  group(): Fanout;
  /** Ends a connection from the server's side (kick). */
  disconnect(connection: Connection, reason: DisconnectReason): void;
  readonly connections: ReadonlyMap<number, Connection>;
}

/** The chat logic the loop drives: what happens on connect, on each line, on leave. */
export interface ChatHandler {
  attach(delivery: Delivery): void;
  /** A line from the server itself to one client: a warning, or why it is being disconnected. */
  notice(connection: Connection, text: string): void;
  onConnect(connection: Connection): void;
  /**
   * A complete line from the client; `cut` when it hit the length limit. `line` is only
   * valid during the call: copy what you keep.
   */
  onLine(connection: Connection, line: Buffer, cut: boolean): void;
  /** Called once per connection, after it has left `connections`. */
  onDisconnect(connection: Connection, reason: DisconnectReason): void;
}

/**
 * A helper process the parent runs beside its children (the Redis link). It writes
 * records to the same pipe and signals the same way; the loop routes its records
 * and its exit to it, and gives it a turn every time round.
 */
export interface Sidecar {
  /** Starts it; `track` registers each process it starts, so the loop reaps it. */
  start(pipeWriteFd: number, track: (pid: number) => void): void;
  /** Still waiting for its first ready? */
  readonly starting: boolean;
  /** Why it could not start ('' when it said so itself), or null. */
  readonly failure: string | null;
  owns(pid: number): boolean;
  /** Descriptors it holds in the parent, which children must close. */
  fds(): number[];
  onRecord(record: PipeRecord): void;
  onExit(status: WaitResult): void;
  tick(): void;
  stop(): void;
}

/** The sidecar did not come up: the server cannot start. `message` may be '' when it printed why itself. */
export class StartError extends Error {}

/** How long the server waits for its sidecar's first ready. */
export const SIDECAR_START_MS = 15_000;

export interface BroadcastServerOptions extends ListenOptions {
  chat: ChatHandler;
  log: Logger;
  /** The longest line a child passes on, in bytes. */
  maxLineBytes: number;
  /** How children read their clients: telnet and clean lines, or the original's raw bytes. */
  inputMode: InputMode;
  /** Output queued for one client before it is disconnected as too slow. */
  sendqLimitBytes: number;
  /** Flood control, enforced in each child; null: none. */
  rateLimit: RateLimit | null;
  /** Clients at once, and from one address; 0: no limit. */
  maxClients: number;
  maxPerAddress: number;
  /** Seconds of silence before a client is disconnected; 0: never. */
  idleTimeoutSeconds: number;
  /** --trace: every IPC step on stderr. */
  tracer: Tracer;
  /** Fork children from a zygote (forked once at start) instead of from the parent itself. */
  zygote: boolean;
  /** The Redis link, with --redis. */
  sidecar?: Sidecar;
  /**
   * A new chat of the same kind as `chat`, with no cluster, for the start-up rehearsal
   * (see rehearse()); without it the server starts without one.
   */
  rehearsalChat?: () => ChatHandler;
}

export class SocketServerBroadcast extends SocketServer implements Delivery, FanoutSink {
  /** Live connections by child pid (the original's `connections`). */
  readonly connections = new Map<number, Connection>();
  /** Every child not yet reaped, including those whose connection has ended. */
  private readonly children = new Set<number>();
  /** Connections with output queued since their last flush. */
  private readonly unflushed = new Set<Connection>();
  /** Groups with lines queued that members have not been handed yet. */
  private readonly pendingGroups = new Set<Fanout>();
  /** Every live connection: what broadcast() sends to. */
  private readonly everyone = new Fanout(this);
  /** Connections to end once the current turn's records are handled. */
  private readonly kicks = new Map<Connection, DisconnectReason>();
  private readonly decoder: RecordDecoder;
  /** The chat and the log: not readonly only because the start-up rehearsal swaps in its own. */
  private chat: ChatHandler;
  private log: Logger;
  /** Live connections per client address, for the per-address limit. */
  private readonly perAddress = new Map<string, number>();
  private readonly parentPid = posix.getpid();
  private readonly zygote = new Zygote();
  /** Clients accepted and not yet given a child: they came before the zygote's next spare. */
  private readonly waitingForChild: AcceptedSocket[] = [];
  /** Pids reaped before we knew them (a spare killed while waiting), so none is handed a client. */
  private readonly reapedElsewhere = new Set<number>();
  /** Set once the loop has ended: children exiting now are expected. */
  private stopping = false;
  private pipeReadFd = -1;
  private pipeWriteFd = -1;
  private pipeHasMore = false;
  /** Children reaped this turn: their last records may still be in the pipe. */
  private justReaped = new Set<number>();
  /** When checkIdle() last looked (ms since the epoch). */
  private lastIdleCheck = 0;
  /** Damaged stretches of the pipe skipped (and their bytes), and records from pids we do not know. */
  readonly stats = { corruptRuns: 0, corruptBytes: 0, unknownRecords: 0 };

  constructor(private readonly options: BroadcastServerOptions) {
    super(options);
    this.chat = options.chat;
    this.log = options.log;
    this.decoder = new RecordDecoder(({ discardedBytes }) => {
      this.stats.corruptBytes += discardedBytes;
      this.stats.corruptRuns++;
      this.log.error(`pipe: skipped ${discardedBytes} bytes that were not a valid record (corrupt run ${this.stats.corruptRuns})`);
    });
    this.chat.attach(this);
  }

  // ------------------------------------------------------------ loop hooks

  protected beforeServerLoop(): void {
    this.rehearseFirst();
    // Block the signals in this (the main) thread so they wait for sigtimedwait(), and
    // forward them here from Node's other threads, which do not all block them
    // (FORK-IN-NODE.md facts 5-6). Forwarding SIGUSR1 also replaces Node's own
    // handler, which would open the inspector.
    posix.sigprocmask('block', WAIT_SIGNALS);
    for (const signal of WAIT_SIGNALS) posix.sigaction(signal, 'forward');
    // One anonymous pipe, made before the first fork, shared by every child.
    [this.pipeReadFd, this.pipeWriteFd] = posix.pipe();
    posix.setNonBlocking(this.pipeReadFd, true);
    // A new connection raises SIGUSR1 too, so it never waits out the 1-second wait.
    posix.setSignalOnReadable(this.listenFd, 'SIGUSR1');
    this.raiseFileLimit();
    warmUpChildPath((pipeWriteFd) => this.planFor(-1, pipeWriteFd));
    // The warm-up signalled us (its records went to a throw-away pipe): take that signal now.
    while (posix.sigtimedwait(['SIGUSR1'], 0) !== null);
    this.startZygote(); // after the warm-up: its children inherit the optimised code
    if (this.options.zygote) churnYoungGeneration();
    this.startSidecar();
  }

  private startZygote(): void {
    if (!this.options.zygote) return;
    const planFor = (clientFd: number, closeFds: number[]): ChildPlan => this.planFor(clientFd, this.pipeWriteFd, closeFds);
    const pid = this.zygote.start(this.parentPid, this.parentFds(), planFor);
    this.children.add(pid);
    this.log.debug(`zygote started (pid ${pid})`);
    this.trace(`fork() -> zygote ${pid}: it forks every child from now on`);
  }

  /** Gives each client waiting for a child one, oldest first, until one must wait for its spare. */
  private startChildren(): void {
    while (this.waitingForChild.length > 0) {
      const client = this.waitingForChild[0] as AcceptedSocket;
      let pid: number | null;
      try {
        pid = this.forkChild(client.fd);
      } catch (error) {
        this.waitingForChild.shift();
        this.log.error(`fork failed for ${client.address}:${client.port}: ${(error as Error).message}`);
        this.refuse(client, 'The server is busy; try again later.');
        continue;
      }
      if (pid === null) {
        this.trace(`no spare child yet for fd ${client.fd}: it waits (the zygote's answer raises SIGUSR1)`);
        return;
      }
      this.waitingForChild.shift();
      this.admit(pid, client);
    }
  }

  /**
   * A child for a new client: from the zygote (null: its spare has not come yet), or
   * (without one, or when it fails) by fork() here.
   */
  private forkChild(clientFd: number): number | null {
    if (this.options.zygote && !this.zygote.running) this.startZygote(); // it died: a new one
    if (this.zygote.running) {
      try {
        const pid = this.zygote.handOff(clientFd, this.waitingForChild.length, (spare) => this.reapedElsewhere.has(spare));
        if (pid === null) return null;
        this.children.add(pid);
        this.trace(`sendmsg(spare child ${pid}, fd ${clientFd}): forked ahead by the zygote, it takes this client`);
        return pid;
      } catch (error) {
        if (!(error instanceof ZygoteGoneError)) throw error;
        this.log.warn(`${error.message}; forking this child here`);
        signalQuietly(this.zygote.pid, 'SIGKILL'); // if it is only stuck; the next connection starts a new one
        this.zygote.exited();
      }
    }
    // The plan only now: what the child must close is what the parent holds at this moment
    // (but its own client, which may still be in the waiting list).
    const plan = this.planFor(clientFd, this.pipeWriteFd, this.parentFds().filter((fd) => fd !== clientFd));
    const pid = posix.fork();
    if (pid === 0) runChild(plan); // never returns
    this.children.add(pid);
    this.trace(`fork() -> child ${pid}`);
    return pid;
  }

  /** Starts the sidecar and runs the pipe and reaping (no accepts yet) until it is ready or fails. */
  private startSidecar(): void {
    const sidecar = this.options.sidecar;
    if (sidecar === undefined) return;
    sidecar.start(this.pipeWriteFd, (pid) => this.children.add(pid));
    const deadline = Date.now() + SIDECAR_START_MS;
    while (sidecar.starting && sidecar.failure === null) {
      if (Date.now() > deadline) throw new StartError(`the Redis link was not ready after ${SIDECAR_START_MS / 1000} s`);
      posix.sigtimedwait(['SIGUSR1', 'SIGCHLD'], 0.1);
      this.reapChildren();
      this.handleProcess();
    }
    if (sidecar.failure !== null) throw new StartError(sidecar.failure);
  }

  /**
   * What a child gets, decided before fork(). One factory for real children and the
   * warm-up, so both plans have the same shape (hidden class) in V8.
   */
  private planFor(clientFd: number, pipeWriteFd: number, closeFds = this.parentFds()): ChildPlan {
    return {
      clientFd,
      pipeWriteFd,
      closeFds,
      parentPid: this.parentPid,
      maxLineBytes: this.options.maxLineBytes,
      inputMode: this.options.inputMode,
      rateLimit: this.options.rateLimit,
      trace: this.options.tracer.enabled,
    };
  }

  /** Descriptors of the parent's that a child forked here must close. */
  private parentFds(): number[] {
    const fds = [this.listenFd, this.pipeReadFd, ...this.zygote.fds(), ...(this.options.sidecar?.fds() ?? [])];
    for (const connection of this.connections.values()) fds.push(connection.fd);
    for (const client of this.waitingForChild) fds.push(client.fd);
    return fds;
  }

  /**
   * Before the first client, a rehearsal (rehearse()) with a chat and log of its own,
   * so V8 optimises the per-line path now. Under --single-threaded V8 compiles on this
   * thread, and without it the first minutes of real chat stall 5-25 ms once per hot
   * function as it gets optimised (seen with --trace-opt). The same server object runs
   * it, so the optimised code sees the same objects as it will for real clients.
   * Skipped under --trace, whose readers should see only their own clients.
   */
  private rehearseFirst(): void {
    const chat = this.options.rehearsalChat?.();
    if (chat === undefined || this.options.tracer.enabled) return;
    const [realChat, realLog] = [this.chat, this.log];
    this.chat = chat;
    this.log = new Logger('silent');
    chat.attach(this);
    try {
      this.rehearse();
    } catch (error) {
      // Only speed depends on it: serve without (EMFILE with a tiny descriptor limit, say).
      realLog.warn(`start-up rehearsal failed: ${(error as Error).message}; the first minutes may be slower`);
    } finally {
      this.chat = realChat;
      this.log = realLog;
    }
  }

  /**
   * The rehearsal: clients on socketpairs, with pids no process can have and no child,
   * send lines through a pipe of its own as children would; the loop's own steps route
   * and send them, and the clients read it all; then they leave.
   */
  private rehearse(): void {
    [this.pipeReadFd, this.pipeWriteFd] = posix.pipe();
    posix.setNonBlocking(this.pipeReadFd, true);
    const peers: number[] = [];
    const record = Buffer.allocUnsafe(MAX_RECORD_BYTES);
    const sink = Buffer.allocUnsafe(PIPE_READ_BYTES);
    const say = (pid: number, type: RecordTypeCode, text: string): void => {
      const length = record.write(text, RECORD_HEADER_BYTES, 'utf8');
      posix.write(this.pipeWriteFd, record, 0, writeRecordHeader(record, 0, type, pid, length));
    };
    let turns = 0;
    const turn = (): void => {
      this.handleProcess();
      this.flushAll();
      // The first client reads only now and then, through a small buffer: the paths
      // for a socket that takes part of its output, or none, get rehearsed too.
      for (const [i, peer] of peers.entries()) {
        if (i > 0 || ++turns % 16 === 0) while ((posix.read(peer, sink) ?? 0) > 0); // null: read it all; 0: closed
      }
    };
    let pid = REHEARSAL_FIRST_PID;
    try {
      // Rounds of newcomers: code optimised in one round meets fresh connections (new
      // objects, empty arrays) in the next, as it will meet real ones.
      for (let round = 0; round < REHEARSAL_ROUNDS; round++) {
        const pids: number[] = [];
        for (let i = 0; i < REHEARSAL_CLIENTS; i++) {
          const [ours, theirs] = posix.socketpair();
          posix.setNonBlocking(theirs, true);
          if (i === 0) posix.setsockopt(ours, 'SO_SNDBUF', 1);
          peers.push(theirs);
          pids.push(pid);
          this.admit(pid++, { fd: ours, address: '127.0.0.1', port: 1 + i, family: 'IPv4' });
          turn();
        }
        for (let n = 0; n < REHEARSAL_LINES_PER_ROUND; n++) {
          const line = REHEARSAL_SAMPLES[n % REHEARSAL_SAMPLES.length] as string;
          say(pids[n % pids.length] as number, RecordType.msg, `${n} ${line}`);
          if (n % 4 === 3) turn(); // a few records per pipe read, as under load
        }
        for (const leaving of pids) say(leaving, RecordType.disc, '');
        turn();
        for (const fd of peers.splice(0)) posix.close(fd);
      }
    } finally {
      for (const connection of [...this.connections.values()]) this.endConnection(connection, { kind: 'shutdown' });
      for (const fd of [...peers, this.pipeReadFd, this.pipeWriteFd]) posix.close(fd);
      this.pipeReadFd = this.pipeWriteFd = -1;
    }
  }

  /** Each client costs the parent a descriptor: allow as many as the hard limit does. */
  private raiseFileLimit(): void {
    const { soft, hard } = posix.getrlimit('RLIMIT_NOFILE');
    if (soft === hard) return;
    try {
      posix.setrlimit('RLIMIT_NOFILE', hard, hard);
      this.log.debug(`RLIMIT_NOFILE raised from ${soft} to ${hard}`);
    } catch (error) {
      this.log.warn(`could not raise RLIMIT_NOFILE from ${soft}: ${(error as Error).message}`);
    }
  }

  protected onConnect(client: AcceptedSocket): void {
    const { maxClients, maxPerAddress } = this.options;
    let fromHere = this.perAddress.get(client.address) ?? 0;
    for (const waiting of this.waitingForChild) if (waiting.address === client.address) fromHere++;
    if (maxClients > 0 && this.connections.size + this.waitingForChild.length >= maxClients) {
      this.refuse(client, `The server is full (${maxClients} people); try again later.`);
      return;
    }
    if (maxPerAddress > 0 && fromHere >= maxPerAddress) {
      this.refuse(client, `Too many connections from ${client.address} (at most ${maxPerAddress}); try again later.`);
      return;
    }
    try {
      posix.setsockopt(client.fd, 'TCP_NODELAY', true); // chat lines are small: no Nagle delay
      // A fixed kernel send buffer instead of autotuning up to megabytes: what a slow
      // reader does not take backs up into its Outbox, where the sendq limit sees it.
      posix.setsockopt(client.fd, 'SO_SNDBUF', CLIENT_SNDBUF_BYTES);
    } catch {
      // The client already left; the child will see it and say so.
    }
    this.trace(`accept() -> fd ${client.fd} from ${client.address}:${client.port}`);
    this.waitingForChild.push(client);
    this.startChildren();
  }

  /** A client whose child is `pid` joins: the chat greets it and tells the others. */
  private admit(pid: number, client: AcceptedSocket): void {
    const fromHere = this.perAddress.get(client.address) ?? 0;
    const connection: Connection = {
      pid,
      fd: client.fd,
      address: client.address,
      port: client.port,
      lastActive: Date.now(),
      outbox: new Outbox(client.fd),
    };
    this.connections.set(pid, connection);
    this.everyone.add(connection);
    this.perAddress.set(client.address, fromHere + 1);
    this.log.info(`connect ${describe(connection)}`);
    this.chat.onConnect(connection);
    // The newcomer's welcome goes now. The others' "joined" notice waits in its room's
    // queue until this loop turn ends (at most PENDING_OUTPUT_WAIT_SECONDS): a client that
    // speaks at once (a paste, a bot) has its first line out with the notice in one send
    // per listener, and the child's first run is not kept off the CPU by one send per client.
    this.flushOne(connection);
  }

  protected onIdle(): void {
    const pendingOutput = this.unflushed.size > 0 || this.pendingGroups.size > 0;
    const spareDueMs = this.zygote.askWhenDue(NEXT_SPARE_DELAY_MS);
    let timeout = this.pipeHasMore ? 0 : pendingOutput ? PENDING_OUTPUT_WAIT_SECONDS : SIGNAL_WAIT_SECONDS;
    if (spareDueMs > 0) timeout = Math.min(timeout, spareDueMs / 1000);
    // Someone waits for a spare: its arrival wakes us; if it is late, give up on the zygote then.
    if (this.waitingForChild.length > 0) timeout = Math.min(timeout, this.zygote.msUntilLate() / 1000);
    const woke = posix.sigtimedwait(WAIT_SIGNALS, timeout);
    if (this.options.tracer.enabled) this.trace(describeWake(woke, timeout, this.listenFd));
    if (woke !== null && STOP_SIGNAL_NUMBERS.has(woke.signo)) {
      this.log.info(`${posix.signalName(woke.signo)} from pid ${woke.pid}: shutting down`);
      this.stop();
    }
    // Reap first, then drain: a child that exited wrote its records before it died,
    // so after the drain we know whether it said goodbye (disc) or was lost.
    const exited = this.reapChildren();
    this.justReaped = new Set(exited);
    this.handleProcess();
    for (const pid of exited) {
      const connection = this.connections.get(pid);
      if (connection !== undefined) this.endConnection(connection, { kind: 'lost', detail: 'connection lost' });
    }
    if (this.waitingForChild.length > 0) this.startChildren();
    this.checkIdle();
    this.options.sidecar?.tick();
    this.processKicks();
    this.flushAll();
  }

  /** At most once a second: disconnect clients silent for longer than the idle timeout. */
  private checkIdle(): void {
    const limitMs = this.options.idleTimeoutSeconds * 1000;
    const now = Date.now();
    if (limitMs === 0 || now - this.lastIdleCheck < 1000) return;
    this.lastIdleCheck = now;
    for (const connection of this.connections.values()) {
      if (now - connection.lastActive > limitMs) {
        this.disconnect(connection, { kind: 'timeout', detail: `idle for more than ${this.options.idleTimeoutSeconds} s` });
      }
    }
  }

  protected onAcceptError(error: NodeJS.ErrnoException): void {
    this.log.error(`accept: ${error.message}`);
  }

  protected afterServerLoop(): void {
    this.stopping = true;
    for (const client of this.waitingForChild.splice(0)) this.refuse(client, 'The server is shutting down. Goodbye!');
    for (const connection of [...this.connections.values()]) {
      this.chat.notice(connection, 'The server is shutting down. Goodbye!');
      connection.outbox.flush();
      this.endConnection(connection, { kind: 'shutdown', detail: 'server shutting down' });
    }
    this.options.sidecar?.stop();
    this.terminateChildren();
    posix.close(this.pipeReadFd);
    posix.close(this.pipeWriteFd);
    this.log.info('stopped');
  }

  /** One --trace line. Callers on the per-record path check `tracer.enabled` first: building the text costs. */
  private trace(text: string): void {
    if (this.options.tracer.enabled) this.options.tracer.line('parent', this.parentPid, text);
  }

  // ------------------------------------------------------------- the pipe

  /** Reads every complete record waiting in the pipe: one wake-up may stand for many (signals coalesce). */
  private handleProcess(): void {
    this.pipeHasMore = false;
    for (let reads = 0; reads < MAX_PIPE_READS_PER_TURN; reads++) {
      const n = posix.read(this.pipeReadFd, this.decoder.buffer, this.decoder.end, this.decoder.room);
      if (n === null || n === 0) return;
      if (this.options.tracer.enabled) this.trace(`read(pipe) -> ${n} bytes`);
      const records = this.decoder.commit(n, this.onRecord);
      if (this.options.tracer.enabled) this.trace(`  ${records} record(s) from that read`);
      this.flushAll(); // one send per client per pipe read: the backlog never outgrows one read's worth
    }
    this.pipeHasMore = true; // come straight back after one more loop turn
  }

  private readonly onRecord = (record: PipeRecord): void => {
    const connection = this.connections.get(record.pid);
    if (connection === undefined && this.options.sidecar?.owns(record.pid) === true && record.type === RecordType.link) {
      if (this.options.tracer.enabled) this.trace(`  record link from the redis link ${record.pid}: ${Buffer.from(record.data).toString('utf8', 0, 120)}`);
      this.options.sidecar.onRecord(record);
      return;
    }
    if (this.options.tracer.enabled) this.trace(`  record ${recordTypeName(record.type)} from child ${record.pid}, ${record.data.length} bytes of data`);
    if (connection === undefined) {
      // A child whose connection already ended may still say goodbye; anything else is unexpected.
      if (!this.children.has(record.pid) && !this.justReaped.has(record.pid)) {
        this.stats.unknownRecords++;
        this.log.warn(`pipe: record type ${record.type} from unknown pid ${record.pid}`);
      }
      return;
    }
    switch (record.type) {
      case RecordType.msg:
      case RecordType.cut:
        connection.lastActive = Date.now();
        this.chat.onLine(connection, record.data, record.type === RecordType.cut);
        break;
      case RecordType.throttled:
        connection.lastActive = Date.now();
        this.chat.notice(connection, `You are sending more than ${this.options.rateLimit?.perSecond} lines a second: lines are being dropped.`);
        break;
      case RecordType.flood:
        this.disconnect(connection, { kind: 'kicked', detail: 'flooding' });
        break;
      case RecordType.reply:
        this.send(connection, Buffer.from(record.data)); // a copy: the decoder reuses its buffer
        break;
      case RecordType.disc:
        this.endConnection(connection, { kind: 'closed', detail: 'closed the connection' });
        break;
      default:
        this.stats.unknownRecords++;
        this.log.warn(`pipe: unknown record type ${record.type} from pid ${record.pid}`);
    }
  };

  // ------------------------------------------------------------ children

  /**
   * waitpid(-1, WNOHANG) until nothing is left to reap: no zombies, including children
   * we have not been told of yet (a spare the zygote forked). Returns the pids reaped.
   */
  private reapChildren(): number[] {
    const reaped: number[] = [];
    for (;;) {
      let status: WaitResult | null;
      try {
        status = posix.waitpid(-1, posix.WNOHANG);
      } catch (error) {
        // ECHILD: no child at all. If we still count some, trust the kernel.
        if (this.children.size > 0) {
          this.log.error(`waitpid: ${(error as Error).message}; forgetting ${this.children.size} child(ren)`);
          reaped.push(...this.children);
          this.children.clear();
        }
        break;
      }
      if (status === null) break;
      if (!this.children.delete(status.pid) && status.pid !== this.zygote.pid) this.rememberUnknown(status.pid);
      reaped.push(status.pid);
      if (status.pid === this.zygote.pid) {
        if (!this.stopping) this.log.warn(`zygote ${status.pid} exited (${status.signal !== null ? posix.signalName(status.signal) : `code ${status.code}`}); a new one starts with the next connection`);
        this.zygote.exited();
        continue;
      }
      if (this.options.sidecar?.owns(status.pid) === true) this.options.sidecar.onExit(status);
      const how = status.signal !== null ? `signal ${posix.signalName(status.signal)}` : `code ${status.code}`;
      this.log.debug(`reaped child ${status.pid} (${how})`);
      this.trace(`waitpid(-1, WNOHANG) -> child ${status.pid} ended (${how})`);
    }
    return reaped;
  }

  private rememberUnknown(pid: number): void {
    this.reapedElsewhere.add(pid);
    if (this.reapedElsewhere.size > 64) this.reapedElsewhere.delete(this.reapedElsewhere.values().next().value as number);
  }

  /** At shutdown: SIGTERM every child, wait for them, SIGKILL any that linger. */
  private terminateChildren(): void {
    for (const pid of this.children) signalQuietly(pid, 'SIGTERM');
    const deadline = Date.now() + CHILD_EXIT_GRACE_MS;
    while (this.children.size > 0 && Date.now() < deadline) {
      if (this.reapChildren().length === 0) sleepMs(5);
    }
    for (const pid of this.children) {
      this.log.warn(`child ${pid} ignored SIGTERM; killing it`);
      signalQuietly(pid, 'SIGKILL');
      posix.waitpid(pid, 0);
    }
    this.children.clear();
  }

  // ------------------------------------------------------------- delivery

  send(connection: Connection, data: Buffer): void {
    this.flushGroups(); // lines a group queued earlier go first
    this.enqueue(connection, data);
  }

  broadcast(data: Buffer, except?: Connection): void {
    this.everyone.send(data, except ?? null);
  }

  group(): Fanout {
    return new Fanout(this);
  }

  /** FanoutSink: straight into a client's queue. */
  enqueue(connection: Connection, data: Buffer): void {
    if (!this.connections.has(connection.pid)) return;
    connection.outbox.enqueue(data);
    this.unflushed.add(connection);
  }

  /** FanoutSink: a group has lines waiting. */
  pending(group: Fanout): void {
    this.pendingGroups.add(group);
  }

  private flushGroups(): void {
    if (this.pendingGroups.size === 0) return;
    for (const group of this.pendingGroups) group.flush();
    this.pendingGroups.clear();
  }

  disconnect(connection: Connection, reason: DisconnectReason): void {
    if (this.connections.has(connection.pid)) this.kicks.set(connection, reason);
  }

  private processKicks(): void {
    for (const [connection, reason] of this.kicks) {
      if (reason.kind !== 'quit') this.chat.notice(connection, `Disconnected: ${reason.detail ?? reason.kind}.`);
      connection.outbox.flush(); // a last word to the kicked client, if it takes it now
      this.endConnection(connection, reason);
    }
    this.kicks.clear();
  }

  /**
   * One send per client with output due. What a client's socket does not take waits
   * for a later turn. A client is too slow to keep when its backlog passes the limit
   * and it has taken nothing for STALLED_READER_MS (a reader that is merely busy for a
   * moment is spared), or passes SENDQ_HARD_FACTOR times the limit however it reads:
   * either way the parent's memory stays bounded.
   */
  private flushAll(): void {
    this.flushGroups();
    // A connection lost here sends its notice to the others, which joins this same pass
    // (a Set visits what is added while iterating).
    for (const connection of this.unflushed) this.flushOne(connection);
  }

  /** Sends one client what is queued for it; cuts it off if it has stopped reading. */
  private flushOne(connection: Connection): void {
    const queued = connection.outbox.bytes;
    const result = connection.outbox.flush();
    if (this.options.tracer.enabled) this.trace(`send(client of ${connection.pid}, ${queued} bytes) -> ${result}`);
    if (result === 'partial' || result === 'blocked') {
      const backlog = connection.outbox.bytes;
      const limit = this.options.sendqLimitBytes;
      const stalled = result === 'blocked' && Date.now() - connection.outbox.stalledSince >= STALLED_READER_MS;
      if ((stalled && backlog > limit) || backlog > limit * SENDQ_HARD_FACTOR) {
        connection.outbox.clear(); // it cannot take what is queued; the notice goes alone
        this.disconnect(connection, { kind: 'kicked', detail: `too slow: more than ${limit} bytes waiting to be read` });
      }
      return;
    }
    this.unflushed.delete(connection);
    if (result === 'gone') this.endConnection(connection, { kind: 'lost', detail: 'connection lost' });
  }

  /**
   * Forgets a connection and closes our copy of its socket. shutdown() first, so the
   * child blocked in read() sees end of stream and exits even though it holds the socket too.
   */
  private endConnection(connection: Connection, reason: DisconnectReason): void {
    if (!this.connections.delete(connection.pid)) return;
    const fromHere = (this.perAddress.get(connection.address) ?? 1) - 1;
    if (fromHere > 0) this.perAddress.set(connection.address, fromHere);
    else this.perAddress.delete(connection.address);
    this.everyone.remove(connection);
    this.unflushed.delete(connection);
    this.kicks.delete(connection);
    connection.outbox.clear();
    try {
      posix.shutdown(connection.fd, 'SHUT_RDWR');
    } catch {
      // ENOTCONN: the peer is already gone.
    }
    posix.close(connection.fd);
    const level = reason.kind === 'kicked' ? 'warn' : 'info';
    this.log[level](`disconnect ${describe(connection)}: ${reason.kind}${reason.detail ? ` (${reason.detail})` : ''}`);
    this.chat.onDisconnect(connection, reason);
  }

  /** Turns a connection away without forking: one line saying why, then close. */
  private refuse(client: AcceptedSocket, message: string): void {
    this.log.warn(`refused ${client.address}:${client.port}: ${message}`);
    try {
      posix.send(client.fd, Buffer.from(`${message}\r\n`), { dontWait: true });
    } catch {
      // It left already.
    }
    posix.close(client.fd);
  }
}

function describeWake(woke: SignalInfo | null, timeout: number, listenFd: number): string {
  if (woke === null) return `sigtimedwait() -> timeout after ${timeout} s`;
  const name = posix.signalName(woke.signo);
  if (woke.fd !== null) {
    const what = woke.fd === listenFd ? 'a connection is waiting' : "the zygote's answer: a spare child";
    return `sigtimedwait() -> ${name} (POLL_IN on fd ${woke.fd}: ${what})`;
  }
  return `sigtimedwait() -> ${name} from pid ${woke.pid}`;
}

function describe(connection: Connection): string {
  return `${connection.address}:${connection.port} (pid ${connection.pid})`;
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    posix.kill(pid, signal);
  } catch {
    // ESRCH: it has exited already and waits to be reaped.
  }
}

/** Objects allocated and dropped at once, enough for a few scavenges of the young generation. */
const CHURN_OBJECTS = 300_000;
let churned: unknown = null;
/**
 * Right after the zygote is forked, every heap page the parent writes is copy-on-write
 * and gets copied on its first write. A scavenge writes a whole semi-space: the first
 * ones after the fork took ~20 ms instead of ~1 ms (--trace-gc). Run them now, before
 * any client waits on the loop.
 */
function churnYoungGeneration(): void {
  for (let i = 0; i < CHURN_OBJECTS; i++) churned = { i, next: churned === null ? null : i };
  churned = null;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** A synchronous sleep: the loop never yields to the event loop, so no setTimeout here. */
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
