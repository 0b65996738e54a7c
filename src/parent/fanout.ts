/**
 * A group of connections that hear the same lines (a room, or everyone). A line
 * for the group is queued once, whatever the group's size; when the server next
 * sends (or anything else must go out first), the lines queued since are joined
 * into one buffer that every member gets, minus its own lines, as one or a few
 * slices of it. So the parent's work per line does not grow with the number of
 * listeners: per listener it is one iovec in one sendmsg() per turn.
 *
 * A notice (someone joined, left, was renamed) may wait: the sink flushes a group
 * whose queue holds only notices a moment later, so a storm of joins costs one send
 * per member per moment instead of one per join. Whatever is sent to one member alone
 * meanwhile takes that member's share along first (handTo()), so each member still
 * reads everything in the order it was sent.
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
  /**
   * Where a member's share of the queued lines starts, as a line index, when not at the
   * first: it joined after those lines were queued, or was handed them already (handTo()).
   */
  private readonly from = new Map<Connection, number>();
  private bytes = 0;
  /** A queued line is not a notice: the group should be flushed without waiting. */
  private urgentLine = false;

  /** @param check the last check on a line's text, once for the whole group (the parent's safeOutput) */
  constructor(
    private readonly sink: FanoutSink,
    private readonly check: (text: Buffer) => Buffer = (text) => text,
  ) {}

  /** Whether a queued line should go now; false when only notices (or nothing) wait. */
  get urgent(): boolean {
    return this.urgentLine;
  }

  /** Joins after whatever was queued before: it does not get those lines. */
  add(connection: Connection): void {
    if (this.members.has(connection)) return;
    if (this.lines.length > 0) this.from.set(connection, this.lines.length);
    this.members.add(connection);
  }

  /** Leaves after whatever was queued before: it is handed those lines now. */
  remove(connection: Connection): void {
    this.handTo(connection);
    this.members.delete(connection);
    this.from.delete(connection);
  }

  /** Queues `data` for every member but `except`; a `notice` may wait for the next line or flush. */
  send(text: Buffer, except: Connection | null = null, notice = false): void {
    if (text.length === 0 || this.members.size === 0) return;
    const data = this.check(text);
    if (this.lines.length === 0) this.sink.pending(this);
    this.lines.push(data);
    this.senders.push(except);
    this.bytes += data.length;
    if (!notice) this.urgentLine = true;
  }

  /**
   * Hands one member its share of the lines queued so far, now: something is about to be
   * sent to it alone, and must come after them. The others get theirs at flush().
   */
  handTo(connection: Connection): void {
    const count = this.lines.length;
    const first = this.from.get(connection) ?? 0;
    if (first >= count || !this.members.has(connection)) return;
    for (let i = first; i < count; i++) {
      const line = this.lines[i];
      if (line !== undefined && this.senders[i] !== connection) this.sink.enqueue(connection, line);
    }
    this.from.set(connection, count);
  }

  /** Hands every member its share of the lines queued so far. */
  flush(): void {
    const count = this.lines.length;
    const first = this.lines[0];
    if (first === undefined) return;
    const batch = count === 1 ? first : Buffer.concat(this.lines, this.bytes);
    // Where each line starts in the batch (and, last, where the batch ends); and which
    // lines each member sent, to be cut out of its share.
    const offsets: number[] = [0];
    const own = new Map<Connection, number[]>();
    let offset = 0;
    for (const [i, line] of this.lines.entries()) {
      const sender = this.senders[i] ?? null;
      if (sender !== null && this.members.has(sender)) {
        let sent = own.get(sender);
        if (sent === undefined) own.set(sender, (sent = []));
        sent.push(i);
      }
      offset += line.length;
      offsets.push(offset);
    }
    const from = this.from;
    // Emptied in place, not replaced: a new [] starts out as an array of small integers
    // to V8, and the first Buffer pushed into it would deoptimise send().
    this.lines.length = 0;
    this.senders.length = 0;
    this.bytes = 0;
    this.urgentLine = false;
    for (const member of this.members) {
      const start = from.get(member) ?? 0;
      const sent = own.get(member);
      if (start === 0 && sent === undefined) {
        this.sink.enqueue(member, batch);
        continue;
      }
      let at = offsets[start] ?? batch.length;
      for (const i of sent ?? []) {
        if (i < start) continue;
        const lineStart = offsets[i] ?? at;
        if (lineStart > at) this.sink.enqueue(member, batch.subarray(at, lineStart));
        at = offsets[i + 1] ?? at;
      }
      if (at < batch.length) this.sink.enqueue(member, batch.subarray(at));
    }
    from.clear();
  }
}

/** How long a room's notices may wait for company, per member: a flush costs about a send per member. */
export const NOTICE_WAIT_MS_PER_MEMBER = 0.02;
/** The longest a notice waits, however large the room. */
export const MAX_NOTICE_WAIT_MS = 250;

/** How long notices for a room of `members` may wait before they are sent on their own. */
export function noticeWaitMs(members: number): number {
  return Math.min(MAX_NOTICE_WAIT_MS, members * NOTICE_WAIT_MS_PER_MEMBER);
}

/**
 * The groups with lines queued, each with when (ms, on a monotonic clock) its first line
 * was: which to flush now, and when the next is due.
 */
export class PendingGroups {
  private readonly since = new Map<Fanout, number>();

  /** `group` has lines queued, from `now` on if it had none. */
  add(group: Fanout, now: number): void {
    if (!this.since.has(group)) this.since.set(group, now);
  }

  /** Flushes the groups with a line queued, and those whose notices have waited long enough. */
  flushDue(now: number): void {
    for (const [group, since] of this.since) {
      if (!group.urgent && now - since < noticeWaitMs(group.members.size)) continue;
      group.flush();
      this.since.delete(group);
    }
  }

  /** Hands `connection` its share of every group's queued lines: they go before what it is sent alone. */
  handTo(connection: Connection): void {
    for (const group of this.since.keys()) group.handTo(connection);
  }

  /** Milliseconds from `now` until a group is due: 0 if one is, Infinity when none waits. */
  dueInMs(now: number): number {
    let due = Infinity;
    for (const [group, since] of this.since) due = Math.min(due, group.urgent ? 0 : since + noticeWaitMs(group.members.size) - now);
    return Math.max(0, due);
  }
}
