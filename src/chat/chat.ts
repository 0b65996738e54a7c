/**
 * The chat itself, kept in the parent: names, rooms, history and commands. It
 * gets clean lines (the children did the telnet and text cleaning) and answers
 * by queueing bytes for clients through the server's Delivery. With a cluster
 * (--redis) it also tells the other servers what happens here and shows what
 * happens there: their users are `remote`, seen in /who *, reachable by /msg.
 */
import type { ChatEvent, Presence } from '../cluster/protocol.js';
import type { ChatHandler, ClusterListener, ClusterPort, Connection, Delivery, DisconnectReason } from '../contracts.js';
import { ListBudget } from './budget.js';
import type { ChatOptions, Member, Room } from './model.js';
import { RoomHistories } from './history.js';
import { roomsLine, whoLines, type WhoRow } from './listings.js';
import { RemoteUsers } from './remote-users.js';
import { ANNOUNCEMENT_PREFIX, checkNick, checkRoom, CRLF, describeLeave, formatIdle, GUEST_PATTERN, HELP, hereWithYou, lineBody, LOBBY, MAX_NICK_LENGTH } from './rules.js';

export { checkNick, checkRoom, HELP, LOBBY, MAX_NAMES_ON_ENTRY, MAX_NICK_LENGTH, MAX_ROOM_NAME_LENGTH } from './rules.js';
export type { ChatOptions } from './model.js';

/** The default clock: one function for every Chat, so V8 sees one call target. */
const systemClock = (): Date => new Date();

export class Chat implements ChatHandler, ClusterListener {
  private delivery: Delivery | null = null;
  private readonly members = new Map<number, Member>();
  /** Members by lower-cased nick: names are unique regardless of case. */
  private readonly byNick = new Map<string, Member>();
  private readonly rooms = new Map<string, Room>();
  private readonly history: RoomHistories;
  /** Users of other servers, by lower-cased nick. */
  private readonly remote = new RemoteUsers();
  /** /nick requests waiting for the cluster's answer, by lower-cased nick. */
  private readonly claiming = new Map<string, Member>();
  private readonly cluster: ClusterPort | null;
  private guests = 0;
  private readonly now: () => Date;

  constructor(private readonly options: ChatOptions) {
    this.now = options.now ?? systemClock;
    this.cluster = options.cluster ?? null;
    this.history = new RoomHistories(options.historyLines, (room) => this.rooms.has(room));
    if (this.cluster !== null) {
      this.cluster.attach(this);
      this.cluster.localUsers = () => [...this.members.values()].map((m): Presence => [m.nick, m.room.name]);
    }
    this.room(LOBBY);
  }

  attach(delivery: Delivery): void {
    this.delivery = delivery;
  }

  // ---------------------------------------------------------------- events

  onConnect(connection: Connection): void {
    const lobby = this.room(LOBBY);
    const member: Member = { connection, nick: this.guestName(), room: lobby, budget: new ListBudget(this.now().getTime()) };
    this.members.set(connection.pid, member);
    this.byNick.set(member.nick.toLowerCase(), member);
    const others = this.nicksIn(LOBBY);
    this.enter(member, lobby);
    this.cluster?.publish({ k: 'join', nick: member.nick, room: LOBBY });
    this.tell(member, `Welcome to posix-chat, ${member.nick}! You are in ${LOBBY}.`);
    this.tell(member, hereWithYou(others));
    this.tell(member, 'Type /help for commands; /nick NAME to choose your name.');
    for (const line of this.options.motd) this.tell(member, line);
    this.showHistory(member);
    this.toRoom(lobby, this.announcement(`${member.nick} joined ${LOBBY}`), member);
  }

  onLine(connection: Connection, line: Buffer, cut: boolean): void {
    const member = this.members.get(connection.pid);
    if (member === undefined) return;
    if (cut) this.tell(member, `Your line was longer than ${this.options.maxLineBytes} bytes and was cut.`);
    const text = line.toString('utf8');
    if (text.startsWith('/') && !text.startsWith('//')) {
      this.command(member, text);
      return;
    }
    const said = text.startsWith('//') ? text.slice(1) : text; // "//" sends a line that starts with "/"
    if (said.trim() === '') return;
    this.publicLine(member, said, false);
  }

  onDisconnect(connection: Connection, reason: DisconnectReason): void {
    const member = this.members.get(connection.pid);
    if (member === undefined) return;
    this.members.delete(connection.pid);
    this.byNick.delete(member.nick.toLowerCase());
    this.leaveRoom(member);
    if (reason.kind === 'shutdown') return; // the others hear 'down' from our link instead
    const why = describeLeave(reason);
    this.cluster?.publish({ k: 'leave', nick: member.nick, room: member.room.name, why });
    this.toRoom(member.room, this.announcement(`${member.nick} left (${why})`));
  }

  notice(connection: Connection, text: string): void {
    this.delivery?.send(connection, Buffer.from(`*** ${text}${CRLF}`));
  }

  // -------------------------------------------------------------- commands

  private command(member: Member, text: string): void {
    const [word = '', ...rest] = text.slice(1).split(' ');
    const args = rest.join(' ').trim();
    switch (word.toLowerCase()) {
      case 'help':
        for (const line of HELP) this.tell(member, line);
        return;
      case 'nick':
        return this.nick(member, args);
      case 'who':
        return this.who(member, args);
      case 'me':
        if (args === '') return this.tell(member, 'Usage: /me ACTION');
        return this.publicLine(member, args, true);
      case 'msg':
        return this.privateMessage(member, args);
      case 'join':
        return this.join(member, args);
      case 'rooms':
        return this.listRooms(member);
      case 'quit':
        return this.quit(member, args);
      default:
        return this.tell(member, `Unknown command /${word.slice(0, 32)}. Type /help for the list.`);
    }
  }

  private nick(member: Member, wanted: string): void {
    const problem = checkNick(wanted);
    if (problem !== null) return this.tell(member, problem);
    if (GUEST_PATTERN.test(wanted)) return this.tell(member, 'Names like guest-12 are given to newcomers. Choose another.');
    const key = wanted.toLowerCase();
    const holder = this.byNick.get(key);
    const taken = (holder !== undefined && holder !== member) || this.remote.has(key) || this.claiming.has(key);
    if (taken) return this.tell(member, `The name ${wanted} is taken. Try another.`);
    if (wanted === member.nick) return this.tell(member, `You are already ${wanted}.`);
    if (this.cluster === null || key === member.nick.toLowerCase()) return this.rename(member, wanted);
    // Held here until every server agrees (an atomic claim in Redis): then onClaimed renames.
    this.claiming.set(key, member);
    this.cluster.claim(wanted);
  }

  private rename(member: Member, wanted: string): void {
    const old = member.nick;
    this.byNick.delete(old.toLowerCase());
    member.nick = wanted;
    this.byNick.set(wanted.toLowerCase(), member);
    this.cluster?.publish({ k: 'rename', old, nick: wanted, room: member.room.name });
    this.tell(member, `You are now known as ${wanted}.`);
    this.toRoom(member.room, this.announcement(`${old} is now known as ${wanted}`), member);
  }

  private who(member: Member, args: string): void {
    const everyone = args === '*';
    if (!this.canList(member, everyone ? this.members.size + this.remote.size : member.room.members.size)) return;
    const now = Date.now();
    const rows: WhoRow[] = [];
    for (const m of everyone ? this.members.values() : member.room.members) {
      const room = everyone ? ` ${m.room.name}` : '';
      const you = m === member ? ' (you)' : '';
      rows.push({ nick: m.nick, text: `${room} idle ${formatIdle(now - m.connection.lastActive)}${you}` });
    }
    for (const r of this.remote.values()) {
      if (everyone) rows.push({ nick: r.nick, text: ` ${r.room} on ${r.srv}` });
      else if (r.room === member.room.name) rows.push({ nick: r.nick, text: ` on ${r.srv}` });
    }
    for (const line of whoLines(rows, everyone ? 'online' : `in ${member.room.name}`)) this.tell(member, line);
  }

  /** Whether `member` may have `rows` listed now; if not, says when. */
  private canList(member: Member, rows: number): boolean {
    const wait = member.budget.take(rows, this.now().getTime());
    if (wait > 0) this.tell(member, `That list is long on a server this busy: try again in ${wait} s.`);
    return wait === 0;
  }

  private privateMessage(member: Member, args: string): void {
    const space = args.indexOf(' ');
    const name = space === -1 ? args : args.slice(0, space);
    const text = space === -1 ? '' : args.slice(space + 1).trim();
    if (name === '' || text === '') return this.tell(member, 'Usage: /msg NAME TEXT');
    const target = this.byNick.get(name.toLowerCase());
    const remote = target === undefined ? this.remote.get(name) : undefined;
    if (remote !== undefined && this.cluster !== null) {
      this.cluster.publish({ k: 'msg', from: member.nick, to: remote.nick, text }, remote.o);
      return this.write(member, `${this.stamp()}-> *${remote.nick}* ${text}`);
    }
    if (target === undefined) return this.tell(member, `Nobody called ${name.slice(0, MAX_NICK_LENGTH + 8)} is online. /who * lists everyone.`);
    if (target === member) return this.tell(member, 'That is you.');
    if (this.delivery?.canTake(target.connection) === false) {
      return this.tell(member, `${target.nick} is not reading right now; your message was not sent. Try again later.`);
    }
    this.write(target, `${this.stamp()}*${member.nick}* ${text}`);
    this.write(member, `${this.stamp()}-> *${target.nick}* ${text}`);
  }

  private join(member: Member, args: string): void {
    const name = (args.startsWith('#') ? args : `#${args}`).toLowerCase();
    const problem = args === '' ? 'Usage: /join #ROOM' : checkRoom(name);
    if (problem !== null) return this.tell(member, problem);
    if (member.room.name === name) return this.tell(member, `You are already in ${name}.`);
    const from = member.room;
    this.leaveRoom(member);
    this.cluster?.publish({ k: 'move', nick: member.nick, from: from.name, to: name });
    this.toRoom(from, this.announcement(`${member.nick} left for ${name}`));
    const to = this.room(name);
    const others = this.nicksIn(name);
    this.enter(member, to);
    this.tell(member, `You are now in ${name}. ${hereWithYou(others)}`);
    this.showHistory(member);
    this.toRoom(to, this.announcement(`${member.nick} joined ${name}`), member);
  }

  private listRooms(member: Member): void {
    if (!this.canList(member, this.rooms.size + this.remote.size)) return;
    const counts = new Map<string, number>();
    for (const room of this.rooms.values()) counts.set(room.name, room.members.size);
    for (const r of this.remote.values()) counts.set(r.room, (counts.get(r.room) ?? 0) + 1);
    this.tell(member, roomsLine(counts));
  }

  private quit(member: Member, reason: string): void {
    this.tell(member, 'Goodbye!');
    this.delivery?.disconnect(member.connection, { kind: 'quit', detail: reason.slice(0, 200) });
  }

  // --------------------------------------------------------------- helpers

  /** A line for everyone in the member's room (`me`: a /me action). */
  private publicLine(member: Member, text: string, me: boolean): void {
    const line = this.stamp() + lineBody(member.nick, text, me);
    this.history.remember(member.room.name, line);
    this.toRoom(member.room, line, member);
    this.cluster?.publish({ k: 'line', room: member.room.name, nick: member.nick, text, me });
  }

  private showHistory(member: Member): void {
    const history = this.history.of(member.room.name);
    if (history.length === 0) return;
    this.tell(member, `Last ${history.length} ${history.length === 1 ? 'line' : 'lines'} in ${member.room.name}:`);
    for (const line of history) this.write(member, line);
  }

  /** Gets or creates a room. */
  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (room === undefined) {
      room = { name, members: new Set(), group: null };
      this.rooms.set(name, room);
    }
    return room;
  }

  private enter(member: Member, room: Room): void {
    room.members.add(member);
    room.group?.add(member.connection);
    member.room = room;
  }

  /** Takes a member out of its room; an empty room other than the lobby goes away. */
  private leaveRoom(member: Member): void {
    const room = member.room;
    room.members.delete(member);
    room.group?.remove(member.connection);
    if (room.members.size === 0 && room.name !== LOBBY) this.rooms.delete(room.name);
  }

  private guestName(): string {
    let nick: string;
    do nick = `guest-${this.cluster !== null ? this.cluster.nextGuest() : ++this.guests}`;
    while (this.byNick.has(nick) || this.remote.has(nick));
    return nick;
  }

  /** Who is in a room, here and on other servers. */
  private nicksIn(roomName: string): string[] {
    const nicks = [...(this.rooms.get(roomName)?.members ?? [])].map((m) => m.nick);
    for (const r of this.remote.values()) if (r.room === roomName) nicks.push(r.nick);
    return nicks;
  }

  private stamp(): string {
    if (!this.options.timestamps) return '';
    const now = this.now();
    return `[${String(now.getHours()).padStart(2, '0')}:${String(now.getMinutes()).padStart(2, '0')}] `;
  }

  /** A line about someone, for a room: `[HH:MM] *** alice joined #lobby`; no user's line looks like it (ANNOUNCEMENT_PREFIX). */
  private announcement(text: string): string {
    return `${this.stamp()}${ANNOUNCEMENT_PREFIX}${text}`;
  }

  /** A message from the server to one member. */
  private tell(member: Member, text: string): void {
    this.notice(member.connection, text);
  }

  private write(member: Member, line: string): void {
    this.delivery?.send(member.connection, Buffer.from(line + CRLF));
  }

  private toRoom(room: Room | undefined, line: string, except?: Member): void {
    if (room === undefined || room.members.size === 0 || this.delivery === null) return;
    if (room.group === null) {
      room.group = this.delivery.group();
      for (const m of room.members) room.group.add(m.connection);
    }
    room.group.send(Buffer.from(line + CRLF), except?.connection ?? null);
  }

  // ------------------------------------------------- from other servers

  onRemoteEvent(o: string, srv: string, ev: ChatEvent, old: boolean): void {
    switch (ev.k) {
      case 'line': {
        const line = this.stamp() + lineBody(ev.nick, ev.text, ev.me);
        this.history.remember(ev.room, line);
        if (!old) this.toRoom(this.rooms.get(ev.room), line);
        return;
      }
      case 'join':
        this.remote.set(ev.nick, ev.room, o, srv);
        return this.toRoom(this.rooms.get(ev.room), this.announcement(`${ev.nick} joined ${ev.room}`));
      case 'move':
        this.remote.set(ev.nick, ev.to, o, srv);
        this.toRoom(this.rooms.get(ev.from), this.announcement(`${ev.nick} left for ${ev.to}`));
        return this.toRoom(this.rooms.get(ev.to), this.announcement(`${ev.nick} joined ${ev.to}`));
      case 'rename': {
        this.remote.delete(ev.old, o);
        this.remote.set(ev.nick, ev.room, o, srv);
        // Someone here has that name (theirs since that server was cut off): say whose it was.
        const old = this.byNick.has(ev.old.toLowerCase()) ? `${ev.old} on ${srv}` : ev.old;
        return this.toRoom(this.rooms.get(ev.room), this.announcement(`${old} is now known as ${ev.nick}`));
      }
      case 'leave':
        this.remote.delete(ev.nick, o);
        return this.toRoom(this.rooms.get(ev.room), this.announcement(`${ev.nick} left (${ev.why})`));
      case 'msg': {
        const target = this.byNick.get(ev.to.toLowerCase());
        if (target !== undefined) this.write(target, `${this.stamp()}*${ev.from}* ${ev.text}`);
        return;
      }
      case 'here':
        this.dropServer(o, null);
        return this.onPresence(false, o, srv, ev.users);
      case 'down':
        return this.dropServer(o, `server ${srv} stopped`);
    }
  }

  onPresence(reset: boolean, o: string, srv: string, users: readonly Presence[]): void {
    if (reset) this.remote.clear();
    for (const [nick, room] of users) this.remote.set(nick, room, o, srv);
  }

  onServerGone(o: string): void {
    const srv = this.remote.serverName(o) ?? 'a server';
    this.dropServer(o, `lost with ${srv}`);
  }

  /** Forgets every user of server `o`, telling their rooms why unless `why` is null. */
  private dropServer(o: string, why: string | null): void {
    for (const r of this.remote.dropServer(o)) {
      if (why !== null) this.toRoom(this.rooms.get(r.room), this.announcement(`${r.nick} left (${why})`));
    }
  }

  onClaimed(nick: string, ok: boolean): void {
    const key = nick.toLowerCase();
    const member = this.claiming.get(key);
    this.claiming.delete(key);
    if (member === undefined || this.members.get(member.connection.pid) !== member) {
      if (ok) this.cluster?.release(nick); // its claimant left meanwhile
      return;
    }
    if (!ok) return this.tell(member, `The name ${nick} is taken. Try another.`);
    this.rename(member, nick);
  }

  onNickLost(nick: string): void {
    const member = this.byNick.get(nick.toLowerCase());
    if (member === undefined) return; // renamed or gone meanwhile
    this.tell(member, `While this server was cut off from the others, someone on another server took the name ${member.nick}; you get another.`);
    this.rename(member, this.guestName());
  }
}
