/**
 * The parent process (the original's SocketServerBroadcast). Read it top to bottom
 * as the PHP class: before the loop, on connect, wait for a signal, drain the pipe,
 * reap. The loop itself is SocketServer.run(): accept if someone waits, else onIdle().
 *
 * Every call in it is synchronous: the loop never returns to Node's event loop.
 * Its helpers each have a module: children.ts (forking, reaping, the zygote),
 * delivery.ts (outboxes, rooms, the sendq policy), admission.ts (limits, idle),
 * proxied.ts (--proxy-protocol), signal-wait.ts, ../pipe/drain.ts, and rehearsal.ts.
 */
import { warmUpChildPath } from '../child/warm-up.js';
import type { Connection, DisconnectReason } from '../contracts.js';
import { describeConnection, Logger, messageOf, ThrottledLog } from '../log.js';
import { PipeDrain, type PipeReader } from '../pipe/drain.js';
import * as posix from '../posix/index.js';
import { formatHostPort } from '../protocol/address.js';
import { RecordType, recordTypeName, type PipeRecord } from '../protocol/record.js';
import { safeOutput } from '../protocol/safe-output.js';
import { Opcode } from '../protocol/websocket.js';
import { Admission, prepareClientSocket, raiseLimits, refuse } from './admission.js';
import { Children } from './children.js';
import { Deliveries } from './delivery.js';
import { HEALTH_CHECK_ANSWER, ProxiedArrivals } from './proxied.js';
import { churnYoungGeneration, rehearseOn, type RehearsalStage } from './rehearsal.js';
import { askForParentSlice, askForSlice, DEFAULT_SLICE_NS } from '../scheduling.js';
import { describeSender, describeWake, discardPendingWakeUps, installSignalWait, isStopSignal, ReapSchedule, rehearseWait, SIGNAL_WAIT_SECONDS, waitForSignal, waitForWakeUp } from './signal-wait.js';
import { StartError, type BroadcastServerOptions } from './server-options.js';
import { SIDECAR_WAIT_SECONDS, Sidecars } from './sidecars.js';
import { SocketServer, type Accepted } from './socket-server.js';
import { closeCodeFor, closeCodeIn, WebClients } from './web-clients.js';

const SILENT = new Logger('silent');
const LOST: DisconnectReason = { kind: 'lost', detail: 'connection lost' };
const SHUTDOWN: DisconnectReason = { kind: 'shutdown', detail: 'server shutting down' };

export class SocketServerBroadcast extends SocketServer implements PipeReader {
  private readonly parentPid = posix.getpid();
  private readonly delivery: Deliveries;
  private readonly admission: Admission;
  private readonly children: Children;
  /** --proxy-protocol: which clients are trusted proxies, and their connections until the header is read. */
  private readonly proxied: ProxiedArrivals;
  /** The pipe every child writes to; made in beforeServerLoop(), before the first fork. */
  private pipe: PipeDrain | null = null;
  /** Children reaped since the pipe was last read to the end: their last records may still be in it. */
  private readonly reaped = new Set<number>();
  /** When the loop reaps: after SIGCHLD, and once in a while in case. */
  private readonly reapSchedule = new ReapSchedule();
  /** accept()'s errors can repeat every turn: logged at most once in a while. */
  private readonly acceptErrors: ThrottledLog;
  /** Web connections fetching the page, not (yet) in the chat. */
  private readonly web: WebClients;
  /** So are the database's (a full disk). */
  private readonly storageErrors: ThrottledLog;
  /** The password hasher, the Redis link. */
  private readonly sidecars: Sidecars;
  /** When the pipe was last read (ms since the epoch): the time of its records, taken once a read, not once a record. */
  private readAt = 0;

  constructor(private readonly options: BroadcastServerOptions) {
    super(options);
    // --classic passes raw bytes on, which may not be UTF-8: no text check, and web clients get them in binary frames.
    const classic = options.inputMode === 'classic';
    this.delivery = new Deliveries(options.sendqLimitBytes, options.tracer, classic ? undefined : safeOutput, classic ? Opcode.binary : Opcode.text);
    this.web = new WebClients(this.join, (client) => this.admission.left(client.address));
    this.proxied = new ProxiedArrivals(options.trustedProxies ?? null);
    this.admission = new Admission(options, (client) => this.proxied.isProxy(client));
    this.acceptErrors = new ThrottledLog(options.log);
    this.storageErrors = new ThrottledLog(options.log);
    this.sidecars = new Sidecars(options.sidecars ?? []);
    this.children = new Children({
      zygote: options.zygote,
      parentPid: this.parentPid,
      log: options.log,
      tracer: options.tracer,
      child: { maxLineBytes: options.maxLineBytes, inputMode: options.inputMode, rateLimit: options.rateLimit, web: options.webPage },
      pipeWriteFd: () => this.openPipe().writeFd,
      parentFds: () => this.parentFds(),
      isProxy: (client) => this.proxied.isProxy(client),
      groupOf: (client) => this.admission.groupOf(client),
    });
    this.options.chat.attach(this.delivery);
  }

  // ------------------------------------------------------ before the loop

  protected beforeServerLoop(): void {
    this.rehearseFirst();
    installSignalWait();
    const pipe = this.openPipe(); // before the first fork: every child inherits it
    posix.setSignalOnReadable(this.listenFd, 'SIGUSR1'); // a new connection wakes the wait too
    if (this.webFd >= 0) posix.setSignalOnReadable(this.webFd, 'SIGUSR1');
    raiseLimits(this.options.log);
    warmUpChildPath((pipeWriteFd) => this.children.planFor(-1, pipeWriteFd, this.parentFds()));
    discardPendingWakeUps(); // the warm-up signalled us (its records went to a throw-away pipe)
    askForSlice(DEFAULT_SLICE_NS); // the warm-up's spare asked for a short one: not for the zygote and the sidecars
    this.children.start(); // after the warm-up: the zygote's children inherit the optimised code
    this.sidecars.start(pipe.writeFd, (pid) => this.children.track(pid)); // they start up meanwhile
    if (this.options.zygote) churnYoungGeneration();
    // Their first ready, with the pipe read and children reaped meanwhile.
    this.sidecars.awaitReady(() => {
      const woke = waitForWakeUp(SIDECAR_WAIT_SECONDS);
      if (woke !== null) this.trace(describeWake(woke, SIDECAR_WAIT_SECONDS, this.listenFd));
      this.reap();
      this.handleProcess();
    });
    askForParentSlice(); // every line passes through the parent (src/scheduling.ts)
    // Only now, with the zygote, the hasher and the link forked: none of them holds the database.
    try {
      this.options.storage?.open();
    } catch (error) {
      throw new StartError(`cannot open the database: ${messageOf(error)}`);
    }
  }

  // ------------------------------------------------------------ on connect

  protected onConnect(client: Accepted): void {
    const refusal = this.refusal(client);
    if (refusal !== null) return refuse(client, refusal, this.options.log);
    prepareClientSocket(client.fd);
    this.trace(`accept() -> fd ${client.fd} from ${formatHostPort(client.address, client.port)}`);
    this.children.waiting.push(client);
    this.children.startWaiting(this.arrive, this.memoryRefusal);
  }

  /** Why `client` must be turned away (a ban, the limits), or null: at accept, and behind a proxy once its header names it. */
  private refusal(client: Accepted): string | null {
    return this.options.chat.refusal?.(client.address) ?? this.admission.refusal(client, this.delivery.connections.size + this.web.size + this.proxied.size, this.children.waiting);
  }

  /** Why a client waiting for its child must now be turned away (memory ran short meanwhile), or null. */
  private readonly memoryRefusal = (): string | null => this.admission.memoryRefusal();

  /** A client has its child `pid`: it goes on now, or once its PROXY header is read (a trusted proxy's). */
  private readonly arrive = (pid: number, client: Accepted): void => {
    if (!this.proxied.isProxy(client)) return this.admit(pid, client);
    this.proxied.hold(pid, client);
    this.trace(`child ${pid} reads the PROXY header of ${formatHostPort(client.address, client.port)}`);
  };

  /**
   * A client now has its child, `pid`: a telnet one joins the chat; a web one first asks for
   * the page. `proxy`: the connection it came by, behind a trusted proxy.
   */
  private readonly admit = (pid: number, client: Accepted, proxy?: Accepted): void => {
    this.admission.joined(client.address);
    if (client.framing === 'websocket') this.web.add(pid, client);
    else this.join(pid, client, proxy);
  };

  /** A client whose child is `pid` joins: the chat greets it and tells the others. */
  private readonly join = (pid: number, client: Accepted, proxy?: Accepted): void => {
    const connection = this.delivery.admit(pid, client, client.framing);
    const via = proxy === undefined ? '' : ` via proxy ${formatHostPort(proxy.address, proxy.port)}`;
    this.options.log.info(`connect ${describeConnection(connection)}${client.framing === 'websocket' ? ' (web)' : ''}${via}`);
    this.options.chat.onConnect(connection);
    // The welcome goes now; the others hear of the newcomer later (Chat#tick, QUIET_ARRIVAL_MS).
    if (!this.delivery.flushNow(connection)) this.end(connection, LOST);
  };

  // --------------------------------------------------- wait for a signal

  protected onIdle(more: boolean): void {
    const due = more || (this.openPipe().hasMore && !this.delivery.paused);
    const base = due ? 0 : Math.min(SIGNAL_WAIT_SECONDS, this.delivery.dueInMs() / 1000);
    const timeout = this.children.wakeWithin(base);
    const woke = waitForSignal(timeout);
    if (this.options.tracer.enabled && (woke !== null || this.options.traceIdle === true)) this.trace(describeWake(woke, timeout, this.listenFd));
    if (isStopSignal(woke)) {
      this.options.log.info(`${posix.signalName(woke.signo)} ${describeSender(woke)}: shutting down`);
      this.stop();
    }
    // Reap first, then drain: a child that exited wrote its records before it died, so
    // once the pipe is read to the end we know whether it said goodbye (disc) or was lost.
    // While the readers are behind, the pipe waits: its writers then wait too.
    if (this.reapSchedule.due(woke)) this.reap();
    const drained = !this.delivery.paused && this.handleProcess();
    if (drained) this.endReaped();
    if (this.children.waiting.length > 0) this.children.startWaiting(this.arrive, this.memoryRefusal);
    for (const connection of this.admission.idle(this.delivery.connections.values())) {
      this.delivery.disconnect(connection, { kind: 'timeout', detail: `idle for more than ${this.options.idleTimeoutSeconds} s` });
    }
    this.sidecars.tick(drained);
    this.options.chat.tick?.();
    this.processKicks();
    this.flush();
    this.guardStorage(() => this.options.storage?.flush());
  }

  // -------------------------------------------------------- drain the pipe

  /** Reads the records waiting in the pipe (the original's handleProcess); true when it is empty now. */
  private handleProcess(): boolean {
    this.readAt = Date.now();
    return this.openPipe().drain(this);
  }

  /** PipeReader: one send per client per pipe read; reading goes on unless the readers are behind. */
  afterRead(): boolean {
    this.flush();
    this.readAt = Date.now();
    return !this.delivery.paused;
  }

  /** PipeReader: a record from a child or a sidecar. */
  record(record: PipeRecord): void {
    const connection = this.delivery.get(record.pid);
    const sidecar = connection === undefined ? this.sidecars.owner(record.pid) : undefined;
    if (sidecar !== undefined) {
      // The link's records are traced with their start; the hasher's never (a stored hash).
      if (this.options.tracer.enabled) this.trace(`  record ${recordTypeName(record.type)} from ${sidecar.name} ${record.pid}${record.type === RecordType.link ? `: ${record.data.toString('utf8', 0, 120)}` : ''}`);
      return sidecar.onRecord(record);
    }
    if (this.options.tracer.enabled) this.trace(`  record ${recordTypeName(record.type)} from child ${record.pid}, ${record.data.length} bytes of data`);
    if (connection === undefined && this.proxied.has(record.pid)) return this.onHeld(record);
    if (connection === undefined) {
      if (this.web.onRecord(record)) return;
      // A child whose connection already ended may still say goodbye; anything else is unexpected.
      if (!this.children.has(record.pid) && !this.reaped.has(record.pid)) this.options.log.warn(`pipe: record type ${record.type} from unknown pid ${record.pid}`);
      return;
    }
    switch (record.type) {
      case RecordType.msg:
      case RecordType.cut:
        connection.lastActive = this.readAt;
        this.options.chat.onLine(connection, record.data, record.type === RecordType.cut);
        break;
      case RecordType.throttled:
        connection.lastActive = this.readAt;
        this.options.chat.notice(connection, `You are sending more than ${this.options.rateLimit?.perSecond} lines a second: lines are being dropped.`);
        break;
      case RecordType.flood:
        this.delivery.disconnect(connection, { kind: 'kicked', detail: 'flooding' });
        break;
      case RecordType.reply:
        this.delivery.sendAsIs(connection, Buffer.from(record.data)); // a copy: the decoder reuses its buffer
        break;
      case RecordType.disc:
        this.end(connection, { kind: 'closed', detail: 'by the client' }, closeCodeIn(record.data));
        break;
      case RecordType.refused: // a PROXY header from a client that is not a trusted proxy, or another protocol's bytes
        this.delivery.disconnect(connection, { kind: 'kicked', detail: record.data.toString('latin1') });
        break;
      default:
        this.options.log.warn(`pipe: unknown record type ${record.type} from pid ${record.pid}`);
    }
  }

  /** A record from the child of a trusted proxy's connection, held until its PROXY header is read. */
  private onHeld(record: PipeRecord): void {
    const log = this.options.log;
    const outcome = this.proxied.onRecord(record);
    switch (outcome.kind) {
      case 'arrived': {
        const refusal = this.refusal(outcome.client);
        if (refusal !== null) return refuse(outcome.client, refusal, log);
        return this.admit(record.pid, outcome.client, outcome.proxy);
      }
      case 'refused':
        return refuse(outcome.proxy, `${outcome.reason.charAt(0).toUpperCase()}${outcome.reason.slice(1)}.`, log);
      case 'check': // not logged: a proxy checks every few seconds
        this.trace(`health check from ${formatHostPort(outcome.proxy.address, outcome.proxy.port)}: answered`);
        return refuse(outcome.proxy, HEALTH_CHECK_ANSWER, SILENT);
      case 'left':
        return this.closeHeld(record.pid, outcome.proxy);
      case 'none':
        if (outcome.unexpected) log.warn(`pipe: record type ${record.type} from pid ${record.pid} before its PROXY header`);
    }
  }

  /** A held connection whose child left (or died) before the header: closed without a word. */
  private closeHeld(pid: number, proxy: Accepted): void {
    this.options.log.info(`proxy connection ${formatHostPort(proxy.address, proxy.port)} (pid ${pid}) closed before its PROXY header`);
    try {
      posix.shutdown(proxy.fd, 'SHUT_RDWR');
    } catch {
      // ENOTCONN: it has gone.
    }
    posix.close(proxy.fd);
  }

  // ------------------------------------------------------------------ reap

  /** Reaps every ended child; a sidecar hears of its own. */
  private reap(): void {
    for (const status of this.children.reap()) {
      this.reaped.add(status.pid);
      this.sidecars.onExit(status);
    }
  }

  /** Once their records are all read: the connections of reaped children that sent no goodbye were lost. */
  private endReaped(): void {
    for (const pid of this.reaped) {
      this.web.end(pid);
      const connection = this.delivery.get(pid);
      if (connection !== undefined) this.end(connection, LOST);
      const proxy = this.proxied.take(pid);
      if (proxy !== undefined) this.closeHeld(pid, proxy);
    }
    this.reaped.clear();
  }

  // ----------------------------------------------------- ending connections

  /** Sends what is due, and ends the connections whose peer vanished meanwhile (their notices go too). */
  private flush(): void {
    for (let lost = this.delivery.flush(); lost.length > 0; lost = this.delivery.flush()) {
      for (const connection of lost) this.end(connection, LOST);
    }
  }

  /** Ends the connections asked to end this turn, each with a last word. */
  private processKicks(): void {
    for (const [connection, reason] of this.delivery.takeKicks()) {
      if (reason.kind !== 'quit') this.options.chat.notice(connection, `Disconnected: ${reason.detail ?? reason.kind}.`);
      this.delivery.flushNow(connection); // a last word to the kicked client, if it takes it now
      this.end(connection, reason);
    }
  }

  /** Ends a connection; a web client first gets a close frame with `closeCode` (null: none, it has gone). */
  private end(connection: Connection, reason: DisconnectReason, closeCode: number | null = closeCodeFor(reason)): void {
    if (closeCode !== null && this.delivery.sendClose(connection, closeCode)) this.delivery.flushNow(connection);
    if (!this.delivery.remove(connection)) return;
    this.admission.left(connection.address);
    const level = reason.kind === 'kicked' ? 'warn' : 'info';
    this.options.log[level](`disconnect ${describeConnection(connection)}: ${reason.kind}${reason.detail ? ` (${reason.detail})` : ''}`);
    this.options.chat.onDisconnect(connection, reason);
  }

  protected onAcceptError(error: NodeJS.ErrnoException): void {
    this.acceptErrors.error(`accept: ${error.message}`);
  }

  protected onRefusedForDescriptors(client: Accepted): void {
    this.acceptErrors.warn(`out of descriptors: refusing ${formatHostPort(client.address, client.port)}`);
    refuse(client, 'The server has no room for another connection; try again later.', SILENT);
  }

  protected afterServerLoop(): void {
    for (const connection of [...this.delivery.connections.values()]) {
      this.options.chat.notice(connection, 'The server is shutting down. Goodbye!');
      this.delivery.flushNow(connection);
      this.end(connection, SHUTDOWN);
    }
    for (const proxy of this.proxied.takeAll()) refuse(proxy, 'The server is shutting down. Goodbye!', SILENT);
    this.web.endAll();
    this.sidecars.stop();
    this.children.stopAll();
    this.pipe?.close();
    this.guardStorage(() => this.options.storage?.close()); // writes what is still queued
    this.options.log.info('stopped');
  }

  // -------------------------------------------------------------- helpers

  /** Runs a database step (the turn's batched history, the last write at stop): a failure is logged (at most once in a while), never fatal. */
  private guardStorage(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.storageErrors.error(`storage: ${messageOf(error)}`);
    }
  }

  private openPipe(): PipeDrain {
    const log = this.options.log;
    this.pipe ??= new PipeDrain(this.options.tracer, (bytes, runs) => log.error(`pipe: skipped ${bytes} bytes that were not a valid record (corrupt run ${runs})`));
    return this.pipe;
  }

  /** Descriptors of the parent's that a child must close. */
  private parentFds(): number[] {
    const fds = [this.listenFd, this.openPipe().readFd, ...this.children.fds(), ...this.proxied.fds(), ...this.sidecars.fds(), ...(this.options.storage?.fds() ?? [])];
    if (this.reserveFd >= 0) fds.push(this.reserveFd);
    if (this.webFd >= 0) fds.push(this.webFd, ...this.web.fds());
    for (const connection of this.delivery.connections.values()) fds.push(connection.fd);
    return fds;
  }

  /**
   * Before the first client, a rehearsal on a stand-in server of this class with a chat, a database, a
   * pipe and a log of its own, so V8 optimises the per-line path now. Not under --trace (its readers
   * see their own), and never on this server's database, which opens once the zygote is forked.
   */
  private rehearseFirst(): void {
    const options = this.options.tracer.enabled ? undefined : this.options.rehearsal?.();
    if (options !== undefined && options.storage !== this.options.storage) rehearseOn(() => new SocketServerBroadcast(options).stage(), this.options.log);
  }

  /** This server's loop steps, for the rehearsal. */
  private stage(): RehearsalStage {
    this.options.storage?.open(); // first: when it cannot, no pipe is left open
    const pipe = this.openPipe();
    return {
      pipeWriteFd: pipe.writeFd,
      admit: this.admit,
      turn: () => {
        rehearseWait();
        this.handleProcess();
        this.flush();
      },
      close: () => {
        for (const connection of [...this.delivery.connections.values()]) this.end(connection, SHUTDOWN);
        pipe.close();
        this.options.storage?.close();
      },
    };
  }

  /** One --trace line. Callers on the per-record path check `tracer.enabled` first: building the text costs. */
  private trace(text: string): void {
    if (this.options.tracer.enabled) this.options.tracer.line('parent', this.parentPid, text);
  }
}

