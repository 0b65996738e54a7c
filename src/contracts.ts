/**
 * The contracts between the parts: what the parent's loop, the chat, the fan-out,
 * the children and the cluster code promise each other. Only types live here, so
 * any part can name them without importing another part (or the addon).
 *
 * A line flows one way: child -> pipe -> the parent's drain -> ChatHandler ->
 * Delivery (rooms, outboxes) -> send. Nothing downstream calls back up.
 */
import type { ChatEvent, Presence, SharedFromLink, SharedWrite } from './cluster/protocol.js';
import type { PipeRecord } from './protocol/record.js';
import type { WebSettings } from './web/respond.js';

// ------------------------------------------------------------ connections

/** The parent's view of one client, as the chat sees it. */
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

// --------------------------------------------------------------- delivery

/**
 * A group of connections that hear the same lines (a room). A line sent to it costs
 * the same whatever its size. Ordering: a member that joins does not get lines sent
 * before it joined; one that leaves still gets them.
 */
export interface RoomGroup {
  add(connection: Connection): void;
  remove(connection: Connection): void;
  /**
   * Queues `data` for every member but `except`. `data` is never modified. A `notice`
   * (news about someone: joined, left, renamed) may wait a moment for company; each
   * member still gets everything in the order it was queued.
   */
  send(data: Buffer, except?: Connection | null, notice?: boolean): void;
}

/** What the chat can ask of the parent's delivery. */
export interface Delivery {
  /** Queues `data` for one client, after anything queued for it before (rooms included). */
  send(connection: Connection, data: Buffer): void;
  /**
   * Queues a telnet command (IAC ...) for one client as it is: protocol, not text, so past
   * the last check on text. A web client gets it alone in a binary frame, which the page
   * reads as a telnet client would (IAC WILL ECHO: a password follows, hide what is typed).
   */
  sendTelnet(connection: Connection, command: Buffer): void;
  /** Queues `data` for every connected client except `except`. */
  broadcast(data: Buffer, except?: Connection): void;
  /** A new, empty room to send lines to at the cost of one. */
  group(): RoomGroup;
  /**
   * Whether `connection` can take more now (its send queue is well under the limit).
   * What one person sends another (/msg) asks first: a reader who has paused is never
   * cut for what someone chose to send it; the sender is told instead.
   */
  canTake(connection: Connection): boolean;
  /** Ends a connection from the server's side, once the current turn's records are handled. */
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
  /** Once per turn of the loop, which turns at least once a second: what waits for time to pass. */
  tick?(): void;
  /**
   * Why a client from `address` is turned away at accept() (an address ban), or null.
   * Asked for every connection before any process is forked for it: no query, memory only.
   */
  refusal?(address: string): string | null;
}

/**
 * The database the parent keeps (accounts, bans, history). Opened by the parent only,
 * once the zygote is forked, so neither the zygote nor any spare inherits it; a child
 * the parent forks itself later closes its descriptors.
 */
export interface Storage {
  /** Opens it; once, after the zygote is forked (the rehearsal's, in memory, before). Throws when it cannot. */
  open(): void;
  /** The descriptors it holds, which a child must close. */
  fds(): number[];
  /** The end of a loop turn: writes what was batched (history lines) in one transaction, when it is due. */
  flush(): void;
  close(): void;
}

// --------------------------------------------------------------- children

/**
 * How a child reads its client: 'chat' decodes telnet and cleans each line;
 * 'classic' passes the bytes of each line on untouched, as the original did.
 */
export type InputMode = 'chat' | 'classic';

/**
 * What a connection speaks: telnet (the main port), or HTTP then WebSocket (the web
 * port). The parent frames what it sends a 'websocket' connection; a child learns its
 * client's framing with the client's socket.
 */
export type Framing = 'telnet' | 'websocket';

/** Lines a second, and the burst allowed above that. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** Everything a child needs, decided in the parent before fork(). */
export interface ChildPlan {
  /** The client's socket: the one descriptor of the parent's that the child keeps, with `pipeWriteFd`. */
  clientFd: number;
  /** The write end of the pipe to the parent. */
  pipeWriteFd: number;
  /** Descriptors the child must close: the listening socket, the pipe's read end, other clients' sockets. */
  closeFds: number[];
  /** The parent's pid, for kill(); `process.pid` in the child still says the parent's too. */
  parentPid: number;
  /** The longest line in bytes; a longer one is cut, never split into two messages. */
  maxLineBytes: number;
  inputMode: InputMode;
  /** Flood control for this client; null: none. */
  rateLimit: RateLimit | null;
  /**
   * The client is a trusted proxy (--proxy-protocol, --trusted-proxy): its first bytes must be a
   * PROXY header naming the real client. False: a PROXY header is refused (src/child/proxy-header.ts).
   */
  expectProxyHeader: boolean;
  /** --trace: say what goes into the pipe. */
  trace: boolean;
  /** How the client speaks (a spare learns it when its client comes). */
  framing: Framing;
  /** The web page and who may open its WebSocket, with --web-port; null without. */
  web: WebSettings | null;
}

/** How a process ended, as waitpid() tells it. */
export interface ExitStatus {
  pid: number;
  /** Exit status when it called `exit`/`_exit`, else null. */
  code: number | null;
  /** The signal that terminated it, else null. */
  signal: number | null;
}

/** --trace: one line per IPC step. */
export interface Tracer {
  readonly enabled: boolean;
  /** Writes a line for the process `pid` in `role`. */
  line(role: 'parent' | 'child', pid: number, text: string): void;
}

// --------------------------------------------------------------- sidecars

/**
 * A helper process the parent runs beside its children (the Redis link, the password
 * hasher). It writes records to the same pipe and signals the same way; the loop routes
 * its records and its exit to it, and gives it a turn every time round.
 */
export interface Sidecar {
  /** How the log and errors name it: 'the Redis link'. */
  readonly name: string;
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
  onExit(status: ExitStatus): void;
  /**
   * Every loop turn. `pipeDrained`: the pipe was read to its end this turn, so every
   * record a process wrote before it exited has been seen (false while the readers are
   * behind and the pipe waits).
   */
  tick(pipeDrained: boolean): void;
  stop(): void;
}

/** The hasher's answer to one request: the value, or why there is none (its process died). */
export type PasswordAnswer<T> = { ok: true; value: T } | { ok: false; why: string };

/**
 * Password hashing, done by a process of its own (the hasher) so that no login holds the
 * loop up. Each request is answered once, on a later loop turn, never during the call.
 */
export interface PasswordHasher {
  /** Asks for `password` hashed with a new salt; false (nothing asked) when too many requests wait. */
  hash(password: string, answer: (result: PasswordAnswer<string>) => void): boolean;
  /** Asks whether `password` matches the `stored` hash; false (nothing asked) when too many requests wait. */
  verify(password: string, stored: string, answer: (result: PasswordAnswer<boolean>) => void): boolean;
}

// ---------------------------------------------------------------- cluster

/** What the chat hears from other servers. */
export interface ClusterListener {
  /** An event from server `srv` (instance `o`); `old`: history from before we started, show it to nobody. */
  onRemoteEvent(o: string, srv: string, ev: ChatEvent, old: boolean): void;
  /** Users of another server, from a fresh snapshot (`reset`: forget every remote user first). */
  onPresence(reset: boolean, o: string, srv: string, users: readonly Presence[]): void;
  /** A server disappeared without saying goodbye. */
  onServerGone(o: string): void;
  /** The answer to `claim(nick)`. */
  onClaimed(nick: string, ok: boolean): void;
  /** Another server holds `nick` now (claimed while this one was cut off): its user here needs another name. */
  onNickLost(nick: string): void;
}

/** What the chat can ask of the cluster. */
export interface ClusterPort {
  /** Where what other servers say goes. */
  attach(listener: ClusterListener): void;
  /** Tells the other servers; `to` (a server's instance): a private message, for that server only. */
  publish(ev: ChatEvent, to?: string): void;
  /** Claims a nick across servers; the answer comes to onClaimed. */
  claim(nick: string): void;
  /** Gives up a nick claimed for someone who left before the answer came. */
  release(nick: string): void;
  /** A guest number no other server hands out. */
  nextGuest(): number;
  /** Who is on this server, for a new link: set by the chat. */
  localUsers: () => Presence[];
  /** This server's name, as the others show it in /who *. */
  readonly serverName: string;
}

/** The shared data's side of the link (src/store/shared-store.ts): what the link says of it. */
export interface SharedDataSide {
  fromLink(message: SharedFromLink): void;
  /** Writes not yet in Redis, oldest first: sent again to each new link process. */
  unwritten(): readonly SharedWrite[];
}

/** What the shared data asks of the cluster: to be told, and to send writes to the link. */
export interface SharedLink {
  attachShared(side: SharedDataSide): void;
  /** Sends a write to the link now if it is up; a new link gets unwritten() anyway. */
  sendShared(write: SharedWrite): void;
}
