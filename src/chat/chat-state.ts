/**
 * The chat's state and its ways of saying things: the people here, the rooms, their
 * history and topics, the bans, and sending a line to one member or a room. The
 * events and commands are in chat.ts (and accounts.ts, moderation.ts, personal.ts).
 */
import type { ClusterPort, Connection, Delivery, PasswordHasher, RoomGroup } from '../contracts.js';
import type { Store } from '../store/store.js';
import { BanList } from './bans.js';
import type { ChatCore } from './core.js';
import { describeUntil } from './duration.js';
import type { ChatOptions, Member, Room } from './model.js';
import { RoomHistories } from './history.js';
import { RemoteUsers } from './remote-users.js';
import { ANNOUNCEMENT_PREFIX, CRLF, lineBody, LOBBY, minuteStamp } from './rules.js';
import { LoginThrottle } from './throttle.js';

export abstract class ChatState implements ChatCore {
  delivery: Delivery | null = null;
  readonly members = new Map<number, Member>();
  /** Members by lower-cased nick: names are unique regardless of case. */
  readonly byNick = new Map<string, Member>();
  protected readonly rooms = new Map<string, Room>();
  readonly history: RoomHistories;
  store: Store | null = null;
  readonly hasher: PasswordHasher | null;
  readonly bans = new BanList();
  readonly throttle = new LoginThrottle();
  readonly topics = new Map<string, string>();
  /** How many people here ignore each (lower-cased) name: a line from a name nobody ignores takes the fast path. */
  protected readonly ignored = new Map<string, number>();
  /** Users of other servers, by lower-cased nick. */
  protected readonly remote = new RemoteUsers();
  /** /nick requests waiting for the cluster's answer, by lower-cased nick. */
  protected readonly claiming = new Map<string, Member>();
  protected readonly cluster: ClusterPort | null;
  /** Newcomers not yet announced, with when they came (ms since the epoch), oldest first. */
  protected readonly arriving = new Map<Member, number>();
  protected guests = 0;
  /** The clock a test set (options.now), or null: Date.now(), which makes no Date object. */
  private readonly clock: (() => Date) | null;

  constructor(protected readonly options: ChatOptions) {
    this.clock = options.now ?? null;
    this.cluster = options.cluster ?? null;
    this.hasher = options.hasher ?? null;
    this.history = new RoomHistories(options.historyLines, (room) => this.rooms.has(room));
    this.room(LOBBY);
  }

  get historyLines(): number {
    return this.options.historyLines;
  }

  attach(delivery: Delivery): void {
    this.delivery = delivery;
  }

  abstract rename(member: Member, nick: string): void;

  notice(connection: Connection, text: string): void {
    this.delivery?.send(connection, Buffer.from(`*** ${text}${CRLF}`));
  }

  // --------------------------------------------------------------- helpers

  /**
   * A line for everyone in the member's room (`me`: a /me action). `bytes`, when given,
   * are `text` as the child sent it (UTF-8; its line editor passes nothing else): a plain
   * line then goes out as those bytes after a prefix kept per member, not as a string
   * made and encoded again, which was the largest part of the parent's work per line.
   */
  protected publicLine(member: Member, text: string, me: boolean, bytes?: Uint8Array): void {
    const stamp = this.stamp();
    const line = stamp + lineBody(member.nick, text, me);
    this.remember(member.room.name, line);
    if (this.ignored.size > 0 && (this.ignored.get(member.nick.toLowerCase()) ?? 0) > 0) this.toRoomUnignored(member, line);
    else this.groupOf(member.room)?.send(bytes === undefined || me ? Buffer.from(line + CRLF) : this.saidBytes(member, stamp, bytes), member.connection);
    this.cluster?.publish({ k: 'line', room: member.room.name, nick: member.nick, text, me });
  }

  /** `stamp`, `<nick> ` and then `text`'s bytes, CRLF-ended: what publicLine() makes of a line, as bytes. */
  private saidBytes(member: Member, stamp: string, text: Uint8Array): Buffer {
    let prefix = member.linePrefix;
    if (prefix === null || prefix.stamp !== stamp || prefix.nick !== member.nick) {
      prefix = member.linePrefix = { stamp, nick: member.nick, bytes: Buffer.from(stamp + lineBody(member.nick, '', false)) };
    }
    const head = prefix.bytes;
    const data = Buffer.allocUnsafe(head.length + text.length + 2);
    data.set(head, 0);
    data.set(text, head.length);
    data[data.length - 2] = 0x0d;
    data[data.length - 1] = 0x0a;
    return data;
  }

  /** A line from someone some people here ignore: to the others in the room, one by one. */
  protected toRoomUnignored(sender: Member, line: string): void {
    const data = Buffer.from(line + CRLF);
    const key = sender.nick.toLowerCase();
    for (const m of sender.room.members) if (m !== sender && !m.ignores.has(key)) this.delivery?.send(m.connection, data);
  }

  protected remember(room: string, line: string): void {
    this.history.remember(room, line);
    if (this.options.historyLines > 0) this.store?.appendHistory(room, line);
  }

  /** Whether `member` is muted now; if so, tells it its line went nowhere. */
  protected isMuted(member: Member): boolean {
    if (member.mutedUntil === 0) return false; // never muted: no need for the clock
    const now = this.nowMs();
    if (member.mutedUntil <= now) return false;
    this.tell(member, `You are muted ${describeUntil(member.mutedUntil === Infinity ? null : member.mutedUntil, now)}: nobody sees what you say.`);
    return true;
  }

  countIgnore(name: string, delta: 1 | -1): void {
    const count = (this.ignored.get(name) ?? 0) + delta;
    if (count > 0) this.ignored.set(name, count);
    else this.ignored.delete(name);
  }

  protected showTopic(member: Member): void {
    const topic = this.topics.get(member.room.name);
    if (topic !== undefined) this.tell(member, `Topic of ${member.room.name}: ${topic}`);
  }

  nowMs(): number {
    return this.clock === null ? Date.now() : this.clock().getTime();
  }

  /**
   * Tells the room, and the other servers, that `member` is here: once, when it first says
   * or does something or QUIET_ARRIVAL_MS after it came. Only a newcomer still arriving: not
   * one announced already, gone, or leaving by /quit as its first command.
   */
  arrive(member: Member): void {
    if (!this.arriving.delete(member)) return;
    member.announced = true;
    member.room.announced++;
    this.cluster?.publish({ k: 'join', nick: member.nick, room: member.room.name });
    this.announcePresence(member.room, `${member.nick} joined ${member.room.name}`, member);
  }

  /**
   * Who came or went, for a room, when at most options.announceUpTo people would hear it.
   * In a larger room such news would drown what is said, and cost a send to every member
   * for each arrival; /who still lists who is there.
   */
  announcePresence(room: Room | undefined, text: string, except?: Member): void {
    if (room === undefined) return;
    const hearers = room.members.size - (except !== undefined && room.members.has(except) ? 1 : 0);
    if (hearers > (this.options.announceUpTo ?? Infinity)) return;
    this.announce(room, text, except);
  }

  /** News about someone (joined, left, renamed) for a room: it may wait a moment to go out with other news. */
  announce(room: Room | undefined, text: string, except?: Member): void {
    this.toRoom(room, this.announcement(text), except, true);
  }

  log(level: 'info' | 'warn' | 'error', text: string): void {
    this.options.log?.(level, text);
  }

  guarded(member: Member, work: () => void): void {
    try {
      work();
    } catch (error) {
      this.log('error', `command from ${member.nick} failed: ${error instanceof Error ? error.message : String(error)}`);
      this.tell(member, 'Sorry: that failed on the server. Try again later.');
    }
  }

  protected showHistory(member: Member): void {
    const history = this.history.of(member.room.name);
    if (history.length === 0) return;
    this.tell(member, `Last ${history.length} ${history.length === 1 ? 'line' : 'lines'} in ${member.room.name}:`);
    for (const line of history) this.write(member, line);
  }

  /** Gets or creates a room. */
  protected room(name: string): Room {
    let room = this.rooms.get(name);
    if (room === undefined) {
      room = { name, members: new Set(), announced: 0, group: null };
      this.rooms.set(name, room);
    }
    return room;
  }

  protected enter(member: Member, room: Room): void {
    room.members.add(member);
    if (member.announced) room.announced++;
    room.group?.add(member.connection);
    member.room = room;
  }

  /** Takes a member out of its room; an empty room other than the lobby goes away. */
  protected leaveRoom(member: Member): void {
    const room = member.room;
    if (room.members.delete(member) && member.announced) room.announced--;
    room.group?.remove(member.connection);
    if (room.members.size === 0 && room.name !== LOBBY) this.rooms.delete(room.name);
  }

  guestName(): string {
    let nick: string;
    do nick = `guest-${this.cluster !== null ? this.cluster.nextGuest() : ++this.guests}`;
    while (this.byNick.has(nick) || this.remote.has(nick));
    return nick;
  }

  /**
   * Who is in a room, here and on other servers, as someone entering it is told: the
   * names of the first `max` (those nobody has heard of yet left out), and how many.
   * Counted, not listed, past `max`: in a storm every newcomer is told, and a pass over
   * a room of thousands for each would cost the loop a pass per arrival.
   */
  protected whoIsIn(roomName: string, max: number): { names: string[]; count: number } {
    const room = this.rooms.get(roomName);
    const names: string[] = [];
    // Past the last announced member to be named, the rest are not looked at: in a storm
    // most members are still arriving.
    const named = Math.min(max, room?.announced ?? 0);
    for (const m of room?.members ?? []) {
      if (names.length >= named) break;
      if (m.announced) names.push(m.nick);
    }
    let count = room?.announced ?? 0;
    for (const r of this.remote.values()) {
      if (r.room !== roomName) continue;
      count++;
      if (names.length < max) names.push(r.nick);
    }
    return { names, count };
  }

  /** `[HH:MM] ` for now (minuteStamp()), or nothing when timestamps are off. */
  protected stamp(): string {
    return this.options.timestamps ? minuteStamp(this.nowMs()) : '';
  }

  /** A line about someone, for a room: `[HH:MM] *** alice joined #lobby`; no user's line looks like it (ANNOUNCEMENT_PREFIX). */
  protected announcement(text: string): string {
    return `${this.stamp()}${ANNOUNCEMENT_PREFIX}${text}`;
  }

  /** A message from the server to one member. */
  tell(member: Member, text: string): void {
    this.notice(member.connection, text);
  }

  write(member: Member, line: string): void {
    this.delivery?.send(member.connection, Buffer.from(line + CRLF));
  }

  protected toRoom(room: Room | undefined, line: string, except?: Member, notice = false): void {
    this.groupOf(room)?.send(Buffer.from(line + CRLF), except?.connection ?? null, notice);
  }

  /** The connections of `room`'s members as one group (made on first use), or null when nobody would hear it. */
  private groupOf(room: Room | undefined): RoomGroup | null {
    if (room === undefined || room.members.size === 0 || this.delivery === null) return null;
    if (room.group === null) {
      room.group = this.delivery.group();
      for (const m of room.members) room.group.add(m.connection);
    }
    return room.group;
  }

}
