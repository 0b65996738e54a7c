/**
 * The clients accepted and not yet given a child (they came before the zygote's next
 * spare), oldest first, with how many of them come from each address group. The
 * per-address limit counts them with the live connections: keeping that count here, as
 * clients join and leave the queue, makes the check at accept() one lookup, where
 * counting the queue would cost a pass over thousands of clients in a storm.
 */
import type { Accepted } from './socket-server.js';

export class WaitingClients implements Iterable<Accepted> {
  private readonly queue: Accepted[] = [];
  private readonly perGroup = new Map<string, number>();

  /** @param groupOf the address group a client counts against, or null (a trusted proxy: it counts once its header is read) */
  constructor(private readonly groupOf: (client: Accepted) => string | null) {}

  get length(): number {
    return this.queue.length;
  }

  /** The oldest client, still in the queue. */
  first(): Accepted | undefined {
    return this.queue[0];
  }

  push(client: Accepted): void {
    this.queue.push(client);
    const group = this.groupOf(client);
    if (group !== null) this.perGroup.set(group, (this.perGroup.get(group) ?? 0) + 1);
  }

  /** Takes the oldest client out of the queue. */
  shift(): Accepted | undefined {
    const client = this.queue.shift();
    if (client !== undefined) this.uncount(client);
    return client;
  }

  /** Empties the queue: its clients, oldest first. */
  takeAll(): Accepted[] {
    this.perGroup.clear();
    return this.queue.splice(0);
  }

  /** How many waiting clients count against `group`. */
  from(group: string): number {
    return this.perGroup.get(group) ?? 0;
  }

  [Symbol.iterator](): Iterator<Accepted> {
    return this.queue[Symbol.iterator]();
  }

  private uncount(client: Accepted): void {
    const group = this.groupOf(client);
    if (group === null) return;
    const left = (this.perGroup.get(group) ?? 1) - 1;
    if (left > 0) this.perGroup.set(group, left);
    else this.perGroup.delete(group);
  }
}
