/**
 * What the parent's loop is told at start (src/cli.ts builds it from the command
 * line), and how its start can fail: the sidecar's start.
 */
import type { ChatHandler, InputMode, RateLimit, Sidecar, Storage, Tracer } from '../contracts.js';
import { waitForWakeUp } from './signal-wait.js';
import type { Logger } from '../log.js';
import type { AddressRange } from '../protocol/address.js';
import type { Limits } from './admission.js';
import type { ListenOptions } from './socket-server.js';
import type { WebSettings } from '../web/respond.js';

/** How long the server waits for its sidecar's first ready. */
export const SIDECAR_START_MS = 15_000;

/** The sidecar did not come up: the server cannot start. `message` may be '' when it printed why itself. */
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
  /** The Redis link, with --redis. */
  sidecar?: Sidecar;
  /** The database (accounts, bans, history), opened once the zygote is forked; none with --classic. */
  storage?: Storage;
  /** A new chat of the same kind as `chat`, with no cluster, for the start-up rehearsal; without it, none. */
  rehearsalChat?: () => ChatHandler;
}


/**
 * Starts the sidecar and runs `turn` (read the pipe, reap; no accepts yet) until it
 * is ready, or throws StartError when it fails or is not ready in SIDECAR_START_MS.
 */
export function startSidecar(sidecar: Sidecar, pipeWriteFd: number, track: (pid: number) => void, turn: () => void): void {
  sidecar.start(pipeWriteFd, track);
  const deadline = Date.now() + SIDECAR_START_MS;
  while (sidecar.starting && sidecar.failure === null) {
    if (Date.now() > deadline) throw new StartError(`the Redis link was not ready after ${SIDECAR_START_MS / 1000} s`);
    waitForWakeUp(0.1);
    turn();
  }
  if (sidecar.failure !== null) throw new StartError(sidecar.failure);
}
