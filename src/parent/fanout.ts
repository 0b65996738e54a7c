/**
 * A group of connections that hear the same lines (a room, or everyone). A line
 * for the group is queued once, whatever the group's size; when the server next
 * sends (or anything else must go out first), the lines queued since are joined
 * into one buffer that every member gets, minus its own lines, as one or a few
 * slices of it. So the parent's work per line does not grow with the number of
 * listeners: per listener it is one iovec in one sendmsg() per turn.
 *
 * Pure: it knows nothing of sockets; its sink (the parent's delivery) holds the queues.
 */
import type { Connection, RoomGroup } from '../contracts.js';

/** Where a group's lines end up: each member's own queue. */
export interface FanoutSink {
  /** Queues `data` for `connection` as it is (no group logic). */
  enqueue(connection: Connection, data: Buffer): void;
  /** Tells the sink this group has lines waiting, so it can flush them before anything else goes out. */
  pending(group: Fanout): void;
}

export class Fanout implements RoomGroup {
  readonly members = new Set<Connection>();
  private readonly lines: Buffer[] = [];
  /** Who sent each line (not given it back), or null. */
  private readonly senders: (Connection | null)[] = [];
  private bytes = 0;

  /** @param check the last check on a line's text, once for the whole group (the parent's safeOutput) */
  constructor(
    private readonly sink: FanoutSink,
    private readonly check: (text: Buffer) => Buffer = (text) => text,
  ) {}

  /** Joins after whatever was queued before: it does not get those lines. */
  add(connection: Connection): void {
    this.flush();
    this.members.add(connection);
  }

  /** Leaves after whatever was queued before: it still gets those lines. */
  remove(connection: Connection): void {
    this.flush();
    this.members.delete(connection);
  }

  /** Queues `data` for every member but `except`. */
  send(text: Buffer, except: Connection | null = null): void {
    if (text.length === 0 || this.members.size === 0) return;
    const data = this.check(text);
    if (this.lines.length === 0) this.sink.pending(this);
    this.lines.push(data);
    this.senders.push(except);
    this.bytes += data.length;
  }

  /** Hands every member its share of the lines queued so far. */
  flush(): void {
    const first = this.lines[0];
    if (first === undefined) return;
    const batch = this.lines.length === 1 ? first : Buffer.concat(this.lines, this.bytes);
    // Where each sender's own lines lie in the batch: cut out of its share.
    const own = new Map<Connection, number[]>();
    let offset = 0;
    for (const [i, line] of this.lines.entries()) {
      const sender = this.senders[i] ?? null;
      const end = offset + line.length;
      if (sender !== null && this.members.has(sender)) {
        let cuts = own.get(sender);
        if (cuts === undefined) own.set(sender, (cuts = []));
        cuts.push(offset, end);
      }
      offset = end;
    }
    // Emptied in place, not replaced: a new [] starts out as an array of small integers
    // to V8, and the first Buffer pushed into it would deoptimise send().
    this.lines.length = 0;
    this.senders.length = 0;
    this.bytes = 0;
    for (const member of this.members) {
      const cuts = own.get(member);
      if (cuts === undefined) {
        this.sink.enqueue(member, batch);
        continue;
      }
      // cuts holds start, end pairs, in order.
      let at = 0;
      for (let i = 0; i + 1 < cuts.length; i += 2) {
        const start = cuts[i] ?? at;
        if (start > at) this.sink.enqueue(member, batch.subarray(at, start));
        at = cuts[i + 1] ?? at;
      }
      if (at < batch.length) this.sink.enqueue(member, batch.subarray(at));
    }
  }
}
