/**
 * The chat itself, kept in the parent: names, rooms, history and commands. It
 * gets clean lines (the children did the telnet and text cleaning) and answers
 * by queueing bytes for clients through the server's Delivery. With a cluster
 * (--redis) it also tells the other servers what happens here and shows what
 * happens there: their users are `remote`, seen in /who *, reachable by /msg.
 */
import type { ChatEvent, Presence } from '../cluster/protocol.js';
import type { ChatHandler, ClusterListener, Connection, DisconnectReason } from '../contracts.js';
import type { Store } from '../store/store.js';
import * as accounts from './accounts.js';
import { ListBudget } from './budget.js';
import { ChatState } from './chat-state.js';
import { describeUntil } from './duration.js';
import type { ChatOptions, Member } from './model.js';
import { roomsLine, whoLines, type WhoRow } from './listings.js';
import { moderate, OPERATOR_COMMANDS } from './moderation.js';
import * as personal from './personal.js';
import { checkNick, checkRoom, describeLeave, formatIdle, GUEST_PATTERN, HELP, hereWithYou, lineBody, LOBBY, MAX_KEPT_HISTORIES, MAX_NAMES_ON_ENTRY, MAX_NICK_LENGTH, NOT_ENCRYPTED, QUIET_ARRIVAL_MS } from './rules.js';

/**
 * The first commands after which, not before, a newcomer is announced: they change the name
 * or the room it arrives with. A newcomer whose first command is /quit is never announced.
 */
const ARRIVES_AFTER = /^\/(nick|join|login|quit)(\s|$)/i;

export { checkNick, checkRoom, HELP, LOBBY, MAX_NAMES_ON_ENTRY, MAX_NICK_LENGTH, MAX_ROOM_NAME_LENGTH } from './rules.js';
export type { ChatOptions } from './model.js';

export class Chat extends ChatState implements ChatHandler, ClusterListener {
  constructor(options: ChatOptions) {
    super(options);
    if (this.cluster !== null) {
      this.cluster.attach(this);
      this.cluster.localUsers = () => [...this.members.values()].filter((m) => m.announced).map((m): Presence => [m.nick, m.room.name]);
    }
  }

  /** The database is open: load what it keeps (bans, topics, the rooms' last lines). */
  useStore(store: Store): void {
    this.store = store;
    this.bans.load(store.bans(this.nowMs()));
    for (const [room, topic] of store.topics()) this.topics.set(room, topic);
    for (const [room, lines] of store.recentHistory(this.options.historyLines, MAX_KEPT_HISTORIES)) for (const line of lines) this.history.remember(room, line);
  }

  /** Why a client from `address` is refused at accept(): an address ban. */
  refusal(address: string): string | null {
    const now = this.nowMs();
    const ban = this.bans.ofAddress(address, now);
    return ban === null ? null : `You are banned from this server ${describeUntil(ban.until, now)}${ban.reason === '' ? '' : `: ${ban.reason}`}.`;
  }

  // ---------------------------------------------------------------- events

  onConnect(connection: Connection): void {
    const lobby = this.room(LOBBY);
    const now = this.nowMs();
    const member: Member = { connection, nick: this.guestName(), room: lobby, budget: new ListBudget(now), account: null, role: null, prompt: null, mutedUntil: 0, ignores: new Set(), away: null, announced: false, leaving: false, linePrefix: null };
    this.members.set(connection.pid, member);
    this.byNick.set(member.nick.toLowerCase(), member);
    const others = this.whoIsIn(LOBBY, MAX_NAMES_ON_ENTRY);
    this.enter(member, lobby);
    this.arriving.set(member, now); // announced by arrive(), below or in tick()
    this.tell(member, `Welcome to posix-chat, ${member.nick}! You are in ${LOBBY}.`);
    this.tell(member, hereWithYou(others.names, others.count));
    this.tell(member, 'Type /help for commands; /nick NAME to choose your name.');
    this.tell(member, NOT_ENCRYPTED);
    for (const line of this.options.motd) this.tell(member, line);
    this.showTopic(member);
    this.showHistory(member);
  }

  onLine(connection: Connection, line: Buffer, cut: boolean): void {
    const member = this.members.get(connection.pid);
    if (member === undefined || member.leaving) return;
    const text = line.toString('utf8');
    // A newcomer is announced before its first line or command (the room hears who came
    // before what they say or do), unless the command changes its name or its room...
    if (!member.announced && member.prompt === null && !ARRIVES_AFTER.test(text)) this.arrive(member);
    this.handleLine(member, text, cut, line);
    // ...which is done now: the room hears who came, and where. (A /login's password is
    // still to come or being checked: accounts.ts announces it once the answer is in.)
    if (!member.announced && member.prompt === null && !this.isClaiming(member)) this.arrive(member);
  }

  /** Whether a /nick of `member` waits for the cluster's answer (onClaimed announces it then). */
  private isClaiming(member: Member): boolean {
    for (const claimant of this.claiming.values()) if (claimant === member) return true;
    return false;
  }

  /** Announces the newcomers who have been here QUIET_ARRIVAL_MS without a word (not one typing a password: its name is still to come). */
  tick(): void {
    if (this.arriving.size === 0) return;
    const now = this.nowMs();
    for (const [member, at] of this.arriving) {
      if (at > now - QUIET_ARRIVAL_MS && at <= now) return; // oldest first; one from 'the future' (the clock was set back) is due
      if (member.prompt === null && !this.isClaiming(member)) this.arrive(member);
    }
  }

  /** `bytes`: the line as the child sent it, `text` decoded. */
  private handleLine(member: Member, text: string, cut: boolean, bytes: Buffer): void {
    if (member.prompt !== null) return this.guarded(member, () => accounts.answer(this, member, text)); // a password, or typed while one is checked: never said
    if (cut) this.tell(member, `Your line was longer than ${this.options.maxLineBytes} bytes and was cut.`);
    if (text.startsWith('/') && !text.startsWith('//')) return this.guarded(member, () => this.command(member, text));
    const escaped = text.startsWith('//'); // "//" sends a line that starts with "/"
    const said = escaped ? text.slice(1) : text;
    if (said.trim() === '' || this.isMuted(member)) return;
    this.publicLine(member, said, false, escaped ? bytes.subarray(1) : bytes);
  }

  onDisconnect(connection: Connection, reason: DisconnectReason): void {
    const member = this.members.get(connection.pid);
    if (member === undefined) return;
    this.members.delete(connection.pid);
    this.byNick.delete(member.nick.toLowerCase());
    for (const name of member.ignores) this.countIgnore(name, -1);
    this.leaveRoom(member);
    this.arriving.delete(member);
    if (!member.announced) return; // came and went without a word: nobody was told it came
    if (reason.kind === 'shutdown') return; // the others hear 'down' from our link instead
    const why = describeLeave(reason);
    this.cluster?.publish({ k: 'leave', nick: member.nick, room: member.room.name, why });
    this.announcePresence(member.room, `${member.nick} left (${why})`);
  }

  // -------------------------------------------------------------- commands

  private command(member: Member, text: string): void {
    const [first = '', ...rest] = text.slice(1).split(' ');
    const args = rest.join(' ').trim();
    const word = first.toLowerCase();
    if (OPERATOR_COMMANDS.has(word)) return moderate(this, member, word, args);
    switch (word) {
      case 'help':
        for (const line of HELP) this.tell(member, line);
        return;
      case 'nick':
        return this.nick(member, args);
      case 'who':
        return this.who(member, args);
      case 'me':
        if (args === '') return this.tell(member, 'Usage: /me ACTION');
        if (this.isMuted(member)) return;
        return this.publicLine(member, args, true);
      case 'msg':
        return this.privateMessage(member, args);
      case 'join':
        return this.join(member, args);
      case 'rooms':
        return this.listRooms(member);
      case 'quit':
        return this.quit(member, args);
      case 'register':
        return accounts.register(this, member);
      case 'login':
        return accounts.login(this, member, args);
      case 'password':
        return accounts.changePassword(this, member);
      case 'logout':
        return accounts.logout(this, member);
      case 'ignore':
        return personal.ignore(this, member, args);
      case 'unignore':
        return personal.unignore(this, member, args);
      case 'away':
        return personal.away(this, member, args);
      case 'topic':
        return personal.topic(this, member, args);
      case 'history':
        return personal.history(this, member, args);
      default:
        return this.tell(member, `Unknown command /${first.slice(0, 32)}. Type /help for the list.`);
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
    const reserved = accounts.reservedName(this, member, wanted);
    if (reserved !== null) return this.tell(member, reserved);
    if (member.account !== null && key !== member.account.toLowerCase()) return this.tell(member, `You are logged in as ${member.account}: /logout first.`);
    if (this.cluster === null || key === member.nick.toLowerCase()) return this.rename(member, wanted);
    // Held here until every server agrees (an atomic claim in Redis): then onClaimed renames.
    this.claiming.set(key, member);
    this.cluster.claim(wanted);
  }

  rename(member: Member, wanted: string): void {
    const old = member.nick;
    this.byNick.delete(old.toLowerCase());
    member.nick = wanted;
    this.byNick.set(wanted.toLowerCase(), member);
    this.tell(member, `You are now known as ${wanted}.`);
    if (!member.announced) return; // nobody has heard of the old name
    this.cluster?.publish({ k: 'rename', old, nick: wanted, room: member.room.name });
    this.announce(member.room, `${old} is now known as ${wanted}`, member);
  }

  private who(member: Member, args: string): void {
    if (args !== '' && args !== '*') return this.tell(member, 'Usage: /who (your room) or /who * (everyone online)');
    const everyone = args === '*';
    if (!this.canList(member, everyone ? this.members.size + this.remote.size : member.room.members.size)) return;
    const now = this.nowMs();
    const rows: WhoRow[] = [];
    // Across servers, every row says where its person is: here too.
    const here = this.cluster === null ? '' : ` on ${this.cluster.serverName}`;
    for (const m of everyone ? this.members.values() : member.room.members) {
      if (!m.announced && m !== member) continue; // nobody has heard of it yet
      const room = everyone ? ` ${m.room.name}${here}` : '';
      const you = m === member ? ' (you)' : '';
      const away = m.away === null ? '' : ` (away: ${m.away})`;
      rows.push({ nick: m.nick, text: `${room} idle ${formatIdle(now - m.connection.lastActive)}${away}${you}` });
    }
    for (const r of this.remote.values()) {
      const idle = ` idle ${formatIdle(now - r.lastActive)}`;
      if (everyone) rows.push({ nick: r.nick, text: ` ${r.room} on ${r.srv}${idle}` });
      else if (r.room === member.room.name) rows.push({ nick: r.nick, text: ` on ${r.srv}${idle}` });
    }
    for (const line of whoLines(rows, everyone ? 'online' : `in ${member.room.name}`)) this.tell(member, line);
  }

  /** Whether `member` may have `rows` listed now; if not, says when. */
  private canList(member: Member, rows: number): boolean {
    const wait = member.budget.take(rows, this.nowMs());
    if (wait > 0) this.tell(member, `That list is long on a server this busy: try again in ${wait} s.`);
    return wait === 0;
  }

  private privateMessage(member: Member, args: string): void {
    const space = args.indexOf(' ');
    const name = space === -1 ? args : args.slice(0, space);
    const text = space === -1 ? '' : args.slice(space + 1).trim();
    if (name === '' || text === '') return this.tell(member, 'Usage: /msg NAME TEXT');
    if (this.isMuted(member)) return;
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
    if (!target.ignores.has(member.nick.toLowerCase())) this.write(target, `${this.stamp()}*${member.nick}* ${text}`);
    this.write(member, `${this.stamp()}-> *${target.nick}* ${text}`);
    if (target.away !== null) this.tell(member, `${target.nick} is away: ${target.away}`);
  }

  private join(member: Member, args: string): void {
    const name = (args.startsWith('#') ? args : `#${args}`).toLowerCase();
    const problem = args === '' ? 'Usage: /join #ROOM' : checkRoom(name);
    if (problem !== null) return this.tell(member, problem);
    if (member.room.name === name) return this.tell(member, `You are already in ${name}.`);
    const from = member.room;
    this.leaveRoom(member);
    if (member.announced) {
      this.cluster?.publish({ k: 'move', nick: member.nick, from: from.name, to: name });
      this.announcePresence(from, `${member.nick} left for ${name}`);
    }
    const to = this.room(name);
    const others = this.whoIsIn(name, MAX_NAMES_ON_ENTRY);
    this.enter(member, to);
    this.tell(member, `You are now in ${name}. ${hereWithYou(others.names, others.count)}`);
    this.showTopic(member);
    this.showHistory(member);
    if (member.announced) this.announcePresence(to, `${member.nick} joined ${name}`, member);
  }

  private listRooms(member: Member): void {
    if (!this.canList(member, this.rooms.size + this.remote.size)) return;
    const counts = new Map<string, number>();
    for (const room of this.rooms.values()) counts.set(room.name, [...room.members].filter((m) => m.announced || m === member).length);
    for (const r of this.remote.values()) counts.set(r.room, (counts.get(r.room) ?? 0) + 1);
    this.tell(member, roomsLine(counts));
  }

  private quit(member: Member, reason: string): void {
    member.leaving = true;
    this.arriving.delete(member); // a newcomer that leaves at once is never announced
    this.tell(member, 'Goodbye!');
    this.delivery?.disconnect(member.connection, { kind: 'quit', detail: reason.slice(0, 200) });
  }

  // ------------------------------------------------- from other servers

  onRemoteEvent(o: string, srv: string, ev: ChatEvent, old: boolean): void {
    switch (ev.k) {
      case 'line': {
        const line = this.stamp() + lineBody(ev.nick, ev.text, ev.me);
        if (old) return this.history.remember(ev.room, line);
        this.remember(ev.room, line);
        this.remote.touch(ev.nick, o, this.nowMs());
        return this.toRoom(this.rooms.get(ev.room), line);
      }
      case 'join':
        this.remote.set(ev.nick, ev.room, o, srv, this.nowMs());
        return this.announcePresence(this.rooms.get(ev.room), `${ev.nick} joined ${ev.room}`);
      case 'move':
        this.remote.set(ev.nick, ev.to, o, srv, this.nowMs());
        this.announcePresence(this.rooms.get(ev.from), `${ev.nick} left for ${ev.to}`);
        return this.announcePresence(this.rooms.get(ev.to), `${ev.nick} joined ${ev.to}`);
      case 'rename': {
        this.remote.delete(ev.old, o);
        this.remote.set(ev.nick, ev.room, o, srv, this.nowMs());
        // Someone here has that name (theirs since that server was cut off): say whose it was.
        const old = this.byNick.has(ev.old.toLowerCase()) ? `${ev.old} on ${srv}` : ev.old;
        return this.announce(this.rooms.get(ev.room), `${old} is now known as ${ev.nick}`);
      }
      case 'leave':
        this.remote.delete(ev.nick, o);
        return this.announcePresence(this.rooms.get(ev.room), `${ev.nick} left (${ev.why})`);
      case 'msg': {
        const target = this.byNick.get(ev.to.toLowerCase());
        this.remote.touch(ev.from, o, this.nowMs());
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
    const now = this.nowMs();
    for (const [nick, room] of users) this.remote.set(nick, room, o, srv, now);
  }

  onServerGone(o: string): void {
    const srv = this.remote.serverName(o) ?? 'a server';
    this.dropServer(o, `lost with ${srv}`);
  }

  /** Forgets every user of server `o`, telling their rooms why unless `why` is null. */
  private dropServer(o: string, why: string | null): void {
    for (const r of this.remote.dropServer(o)) {
      if (why !== null) this.announcePresence(this.rooms.get(r.room), `${r.nick} left (${why})`);
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
    if (ok) this.rename(member, nick);
    else this.tell(member, `The name ${nick} is taken. Try another.`);
    if (!member.announced) this.arrive(member); // a newcomer whose first command was this /nick
  }

  onNickLost(nick: string): void {
    const member = this.byNick.get(nick.toLowerCase());
    if (member === undefined) return; // renamed or gone meanwhile
    this.tell(member, `While this server was cut off from the others, someone on another server took the name ${member.nick}; you get another.`);
    this.rename(member, this.guestName());
  }
}
