/**
 * Who may stay: the limits on connections (at once, and from one address), the
 * idle timeout, and how a connection is turned away (one line saying why, then
 * close, without forking). Also the descriptor limit each client costs the parent.
 */
import { readFileSync } from 'node:fs';
import type { Connection, Framing } from '../contracts.js';
import { messageOf, type Logger } from '../log.js';
import * as posix from '../posix/index.js';
import type { AcceptedSocket } from '../posix/index.js';
import { addressGroup, formatHostPort } from '../protocol/address.js';
import { errorResponse } from '../protocol/http.js';
import { ANNOUNCEMENT_PREFIX } from '../chat/rules.js';
import type { WaitingClients } from './waiting.js';

/** The kernel's send buffer for each client socket (Linux doubles it for bookkeeping). */
export const CLIENT_SNDBUF_BYTES = 64 * 1024;
/** How often idle connections are looked for. */
const IDLE_CHECK_INTERVAL_MS = 1000;
/** How often the machine's free memory is read again while clients arrive. */
const MEMORY_CHECK_INTERVAL_MS = 100;

export interface Limits {
  /** Clients at once (worked out at start when not given: maxClientsHere()), and from one address (0: no limit). */
  maxClients: number;
  maxPerAddress: number;
  /**
   * Newcomers are turned away while the machine (or the server's cgroup) has less memory
   * than this free (0: never). The limit at start counts on a client's usual cost; this
   * one holds whatever a client turns out to cost, so a storm stops short of the OOM killer.
   */
  memoryReserveBytes: number;
  /** IPv6 clients count per network of this many bits (addressGroup()). */
  ipv6PrefixBits: number;
  /** Seconds of silence before a client is disconnected; 0: never. */
  idleTimeoutSeconds: number;
}

export class Admission {
  /** Live connections per client address, for the per-address limit. */
  private readonly perAddress = new Map<string, number>();
  /** When idle() last looked (ms since the epoch). */
  private lastIdleCheck = 0;
  /** When free memory was last read (ms since the epoch), and whether it was under the reserve. */
  private lastMemoryCheck = 0;
  private shortOfMemory = false;

  /**
   * @param isProxy whether a connection comes from a trusted proxy (--proxy-protocol): it counts
   *   against no address until its PROXY header names the client
   */
  constructor(
    private readonly limits: Limits,
    private readonly isProxy: (client: AcceptedSocket) => boolean = () => false,
  ) {}

  /**
   * Why `client` must be turned away, or null to let it in. `live`: connections now;
   * `waiting`: clients accepted and still waiting for their child.
   */
  refusal(client: AcceptedSocket, live: number, waiting: Pick<WaitingClients, 'length' | 'from'>): string | null {
    const { maxClients, maxPerAddress } = this.limits;
    if (maxClients > 0 && live + waiting.length >= maxClients) {
      return `The server is full (${maxClients} ${maxClients === 1 ? 'person' : 'people'}); try again later.`;
    }
    const memory = this.memoryRefusal();
    if (memory !== null) return memory;
    const group = this.groupOf(client);
    if (group === null) return null; // a trusted proxy: counted by the address its header gives
    const fromHere = (this.perAddress.get(group) ?? 0) + waiting.from(group);
    if (maxPerAddress > 0 && fromHere >= maxPerAddress) {
      return `Too many connections from ${group} (at most ${maxPerAddress}); try again later.`;
    }
    return null;
  }

  /**
   * Why no one more may be given a process now, or null: free memory is under the
   * reserve. Asked at accept, and again before a waiting client's child is forked: in a
   * storm clients are accepted long before their children cost anything.
   */
  memoryRefusal(): string | null {
    return this.isShortOfMemory() ? 'The server is short of memory; try again later.' : null;
  }

  /** Whether free memory is under the reserve, read at most every MEMORY_CHECK_INTERVAL_MS. */
  private isShortOfMemory(): boolean {
    const reserve = this.limits.memoryReserveBytes;
    if (reserve === 0) return false;
    const now = Date.now();
    if (now - this.lastMemoryCheck >= MEMORY_CHECK_INTERVAL_MS) {
      this.lastMemoryCheck = now;
      const free = availableMemoryBytes();
      this.shortOfMemory = free !== null && free < reserve;
    }
    return this.shortOfMemory;
  }

  /** Counts a connection from `address` in. */
  joined(address: string): void {
    const group = this.group(address);
    this.perAddress.set(group, (this.perAddress.get(group) ?? 0) + 1);
  }

  /** Counts a connection from `address` out. */
  left(address: string): void {
    const group = this.group(address);
    const fromHere = (this.perAddress.get(group) ?? 1) - 1;
    if (fromHere > 0) this.perAddress.set(group, fromHere);
    else this.perAddress.delete(group);
  }

  /** The address group a waiting client counts against, or null for a trusted proxy (counted by the address its header gives). */
  groupOf(client: AcceptedSocket): string | null {
    return this.isProxy(client) ? null : this.group(client.address);
  }

  private group(address: string): string {
    return addressGroup(address, this.limits.ipv6PrefixBits);
  }

  /** At most once a second: the connections silent for longer than the idle timeout. */
  idle(connections: Iterable<Connection>): Connection[] {
    const limitMs = this.limits.idleTimeoutSeconds * 1000;
    const now = Date.now();
    if (limitMs === 0 || now - this.lastIdleCheck < IDLE_CHECK_INTERVAL_MS) return [];
    this.lastIdleCheck = now;
    const idle: Connection[] = [];
    for (const connection of connections) if (now - connection.lastActive > limitMs) idle.push(connection);
    return idle;
  }
}

/** Sets up an accepted client's socket for chat. */
export function prepareClientSocket(fd: number): void {
  try {
    posix.setsockopt(fd, 'TCP_NODELAY', true); // chat lines are small: no Nagle delay
    // A fixed kernel send buffer instead of autotuning up to megabytes: what a slow
    // reader does not take backs up into its Outbox, where the sendq limit sees it.
    posix.setsockopt(fd, 'SO_SNDBUF', CLIENT_SNDBUF_BYTES);
  } catch {
    // The client already left; its child will see it and say so.
  }
}

/**
 * Turns a connection away: one line saying why (an HTTP 503 on the web port), then close.
 * shutdown() first, so a child that holds the socket too (one that read a PROXY header)
 * sees the end at once.
 */
export function refuse(client: AcceptedSocket & { framing?: Framing }, message: string, log: Logger): void {
  log.warn(`refused ${formatHostPort(client.address, client.port)}: ${message}`);
  try {
    const refusal = client.framing === 'websocket' ? errorResponse(503, message) : Buffer.from(`${ANNOUNCEMENT_PREFIX}${message}\r\n`);
    posix.send(client.fd, refusal, { dontWait: true });
    posix.shutdown(client.fd, 'SHUT_RDWR');
  } catch {
    // It left already.
  }
  posix.close(client.fd);
}

/** What a client costs beyond its send queue: its process, its socket buffers, the parent's records of it. */
const CLIENT_MEMORY_BYTES = 1024 * 1024;
/** Descriptors the parent keeps for itself: stdio, the pipe, the zygote's, spares', the reserve, Node's own. */
const OWN_DESCRIPTORS = 64;
/** Processes the server needs besides one per client: itself, the zygote, spares, the Redis link. */
const OWN_PROCESSES = 16;

/**
 * How many clients this machine can take at once: the lowest of what the descriptor
 * limit, the process limits, the kernel's pid and thread tables (less what other
 * programs use now) and the memory allow, and which one that was. The soft limits
 * count at their hard value: raiseLimits() raises them at start.
 */
export function maxClientsHere(sendqBytes: number): { max: number; why: string } {
  const bounds: [string, number][] = [];
  const files = posix.getrlimit('RLIMIT_NOFILE').hard;
  if (files >= 0) bounds.push([`RLIMIT_NOFILE ${files}`, files - OWN_DESCRIPTORS]);
  const processes = posix.getrlimit('RLIMIT_NPROC').hard;
  if (processes >= 0) bounds.push([`RLIMIT_NPROC ${processes}`, processes - OWN_PROCESSES]);
  // Every thread on the machine takes a pid and a place in the thread table: a client is one of each.
  const tasks = readNumber('/proc/loadavg', /^\S+ \S+ \S+ \d+\/(\d+)/) ?? 0;
  const pids = readNumber('/proc/sys/kernel/pid_max');
  if (pids !== null) bounds.push([`kernel.pid_max ${pids} with ${tasks} tasks running`, pids - tasks - OWN_PROCESSES]);
  const threads = readNumber('/proc/sys/kernel/threads-max');
  if (threads !== null) bounds.push([`kernel.threads-max ${threads} with ${tasks} tasks running`, threads - tasks - OWN_PROCESSES]);
  const memory = availableMemoryBytes();
  if (memory !== null) bounds.push([`${Math.round(memory / 2 ** 20)} MiB free at ~${Math.round((sendqBytes + CLIENT_MEMORY_BYTES) / 2 ** 20)} MiB a client`, Math.floor(memory / (sendqBytes + CLIENT_MEMORY_BYTES))]);
  let best: [string, number] = ['no limit found', 1_000_000];
  for (const bound of bounds) if (bound[1] < best[1]) best = bound;
  return { max: Math.max(1, best[1]), why: best[0] };
}

/**
 * What to say when the kernel caps the listen backlog asked for (`net.core.somaxconn`), or
 * null when it does not: connections arriving at once beyond the queue wait on their SYN
 * retries, and some (their handshake's last ACK dropped) seem connected to the client while
 * the server never hears of them.
 */
export function backlogNote(requested: number): string | null {
  const cap = readNumber('/proc/sys/net/core/somaxconn');
  if (cap === null || cap >= requested) return null;
  return `--backlog ${requested} is capped at ${cap} by net.core.somaxconn: past ${cap} connections arriving at once, some wait or hang (sysctl -w net.core.somaxconn=${requested} to raise it)`;
}

/** Memory this server may still use: what the kernel calls available, or less if a cgroup caps it. */
function availableMemoryBytes(): number | null {
  let available: number | null = null;
  try {
    const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1];
    if (kib !== undefined) available = Number(kib) * 1024;
  } catch {
    // Not Linux's /proc: no memory bound.
  }
  const cap = readNumber('/sys/fs/cgroup/memory.max');
  const used = readNumber('/sys/fs/cgroup/memory.current');
  if (cap !== null && used !== null) available = Math.min(available ?? Infinity, Math.max(0, cap - used));
  return available;
}

/** A whole number in a file, or the one `pattern` captures in it ('max' and the like: null). */
function readNumber(file: string, pattern = /^(\d+)$/): number | null {
  try {
    const found = pattern.exec(readFileSync(file, 'utf8').trim())?.[1];
    return found === undefined ? null : Number(found);
  } catch {
    return null;
  }
}

/**
 * Each client costs the parent a descriptor and a process: the soft limits of both
 * are raised to the hard ones (what maxClientsHere() counted on).
 */
export function raiseLimits(log: Logger): void {
  for (const resource of ['RLIMIT_NOFILE', 'RLIMIT_NPROC'] as const) {
    const { soft, hard } = posix.getrlimit(resource);
    if (soft === hard) continue;
    try {
      posix.setrlimit(resource, hard, hard);
      log.debug(`${resource} raised from ${soft} to ${hard}`);
    } catch (error) {
      log.warn(`could not raise ${resource} from ${soft}: ${messageOf(error)}`);
    }
  }
}
