/**
 * The scale step's crowd (scale.ts), on a thread of its own: `clients` sockets connect at
 * once, each counted served at its first byte (or once connected, for a server that does
 * not greet); on 'fanout' the first sends a line and each other counts once it has it; on
 * 'close' all are closed. The counts are in `counts` (Int32: served, failed, reached) and
 * the times in `times` (Float64, ms since the epoch: last served, last reached), which the
 * step's thread reads while it times the two chatting. On its own thread, the crowd's
 * tens of thousands of socket events no longer delay that thread's timestamps.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type net from 'node:net';
import { now, open } from './load.js';

export interface CrowdSetup {
  port: number;
  clients: number;
  /** Whether the server greets a newcomer: a client is served at its first byte, else once connected. */
  welcomes: boolean;
  counts: Int32Array;
  times: Float64Array;
}

export const enum Count {
  Served,
  Failed,
  Reached,
}
export const enum Time {
  LastServed,
  LastReached,
}

export const FANOUT_MARK = Buffer.from('~FANOUT~', 'latin1');

if (parentPort !== null && (workerData as Partial<CrowdSetup> | null)?.counts !== undefined) {
  const { port, clients, welcomes, counts, times } = workerData as CrowdSetup;
  const failures = new Map<string, number>();
  const crowd: net.Socket[] = [];
  for (let i = 0; i < clients; i++) {
    const socket = open(port);
    let welcomed = false;
    const welcome = (): void => {
      if (welcomed) return;
      welcomed = true;
      Atomics.add(counts, Count.Served, 1);
      times[Time.LastServed] = now();
    };
    let tail: Buffer = Buffer.alloc(0);
    let hasFanout = false;
    if (!welcomes) socket.once('connect', welcome);
    socket.on('data', (chunk: Buffer) => {
      welcome();
      if (hasFanout) return;
      const data = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
      if (data.includes(FANOUT_MARK)) {
        hasFanout = true;
        times[Time.LastReached] = now();
        Atomics.add(counts, Count.Reached, 1);
      }
      tail = Buffer.from(data.subarray(Math.max(0, data.length - FANOUT_MARK.length)));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (welcomed) return;
      Atomics.add(counts, Count.Failed, 1);
      failures.set(error.code ?? error.message, (failures.get(error.code ?? error.message) ?? 0) + 1);
    });
    crowd.push(socket);
  }
  parentPort.on('message', (message: 'fanout' | 'close') => {
    if (message === 'fanout') {
      crowd[0]?.write(`${FANOUT_MARK.toString('latin1')}\r\n`);
      return;
    }
    for (const socket of crowd) socket.destroy();
    parentPort?.postMessage([...failures]);
  });
}
