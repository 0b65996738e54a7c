/**
 * The helper processes the parent runs beside its children (the Redis link, the
 * password hasher: each a Sidecar). They start before the database opens, so none
 * inherits it, and the server does not listen until each is ready; then the loop
 * routes each one's records and exit to it and gives it a turn every time round.
 */
import type { ExitStatus, Sidecar } from '../contracts.js';
import { SIDECAR_START_MS, StartError } from './server-options.js';

/** While they start, the pipe is read at least this often. */
export const SIDECAR_WAIT_SECONDS = 0.1;

export class Sidecars {
  constructor(private readonly list: readonly Sidecar[]) {}

  /** Starts them all; `track` registers each process, so the loop reaps it. */
  start(pipeWriteFd: number, track: (pid: number) => void): void {
    for (const sidecar of this.list) sidecar.start(pipeWriteFd, track);
  }

  /**
   * Runs `turn` (wait a moment for a signal, reap, read the pipe; no accepts yet) until
   * each is ready; throws StartError when one fails or is not ready in SIDECAR_START_MS.
   */
  awaitReady(turn: () => void): void {
    const deadline = Date.now() + SIDECAR_START_MS;
    for (;;) {
      for (const sidecar of this.list) if (sidecar.failure !== null) throw new StartError(sidecar.failure);
      const late = this.list.find((sidecar) => sidecar.starting);
      if (late === undefined) return;
      if (Date.now() > deadline) throw new StartError(`${late.name} was not ready after ${SIDECAR_START_MS / 1000} s`);
      turn();
    }
  }

  /** The sidecar whose process `pid` is, if any. */
  owner(pid: number): Sidecar | undefined {
    return this.list.find((sidecar) => sidecar.owns(pid));
  }

  onExit(status: ExitStatus): void {
    this.owner(status.pid)?.onExit(status);
  }

  tick(pipeDrained: boolean): void {
    for (const sidecar of this.list) sidecar.tick(pipeDrained);
  }

  stop(): void {
    for (const sidecar of this.list) sidecar.stop();
  }

  /** Descriptors they hold in the parent, which children must close. */
  fds(): number[] {
    return this.list.flatMap((sidecar) => sidecar.fds());
  }
}
