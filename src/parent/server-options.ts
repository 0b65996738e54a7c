/**
 * What the parent's loop is told at start (src/cli.ts builds it from the command
 * line), and how its start can fail.
 */
import type { ChatHandler, InputMode, RateLimit, Sidecar, Storage, Tracer } from '../contracts.js';
import type { Logger } from '../log.js';
import type { AddressRange } from '../protocol/address.js';
import type { Limits } from './admission.js';
import type { ListenOptions } from './socket-server.js';
import type { WebSettings } from '../web/respond.js';

/** How long the server waits for each sidecar's first ready. */
export const SIDECAR_START_MS = 15_000;

/** A sidecar did not come up: the server cannot start. `message` may be '' when it printed why itself. */
export class StartError extends Error {}

export interface BroadcastServerOptions extends ListenOptions, Limits {
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
  /** --trace: every IPC step on stderr. */
  tracer: Tracer;
  /** With the tracer: also trace the wake-ups that found nothing to do (one a second when idle). */
  traceIdle?: boolean;
  /** Fork children from a zygote (forked once at start) instead of from the parent itself. */
  zygote: boolean;
  /**
   * --proxy-protocol: connections from these ranges start with a PROXY header naming the real
   * client; null (or absent): off. From anyone else, a PROXY header is refused either way.
   */
  trustedProxies?: readonly AddressRange[] | null;
  /** With a web port: the page, and the origins allowed to open its WebSocket. */
  webPage: WebSettings | null;
  /** Helper processes: the password hasher (not with --classic), the Redis link (with --redis). */
  sidecars?: readonly Sidecar[];
  /** The database (accounts, bans, history), opened once the zygote is forked; none with --classic. */
  storage?: Storage;
  /**
   * The options of the start-up rehearsal's stand-in server: a new chat of the same kind
   * with a database in memory, a silent log, no zygote or sidecars. Without it, no
   * rehearsal.
   */
  rehearsal?: () => BroadcastServerOptions;
}

