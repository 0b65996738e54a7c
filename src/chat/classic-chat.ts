/**
 * The original program's chat behaviour (`--classic`): every line goes to every
 * other client as `[ADDRESS] (PID):LINE`, bytes untouched, a newcomer is announced
 * as `Connected`, and nothing else: no names, no commands. Kept for people laying
 * this server beside the PHP one. Lines stay whole, though: the original passed on
 * raw reads, which split lines apart under load.
 */
import type { ChatHandler, Connection, Delivery } from '../contracts.js';

const LF = Buffer.from('\n');

export class ClassicChat implements ChatHandler {
  private delivery: Delivery | null = null;

  attach(delivery: Delivery): void {
    this.delivery = delivery;
  }

  onConnect(connection: Connection): void {
    this.relay(connection, Buffer.from('Connected'));
  }

  onLine(connection: Connection, line: Buffer): void {
    this.relay(connection, line);
  }

  onDisconnect(): void {}

  notice(connection: Connection, text: string): void {
    this.delivery?.send(connection, Buffer.from(`${text}\n`));
  }

  /** To everyone but the sender, never back to it (as the original). Bytes pass unchanged. */
  private relay(from: Connection, data: Buffer): void {
    const prefix = Buffer.from(`[${from.address}] (${from.pid}):`, 'latin1');
    this.delivery?.broadcast(Buffer.concat([prefix, data, LF]), from);
  }
}
