/**
 * The chat itself, kept in the parent: names, rooms, history and commands. It
 * gets clean lines (the children did the telnet and text cleaning) and answers
 * by queueing bytes for clients through the server's Delivery.
 */
import type { ChatHandler, Connection, Delivery, DisconnectReason } from './broadcast-server.js';

export const LOBBY = '#lobby';
export const MAX_NICK_LENGTH = 16;
export const MAX_ROOM_NAME_LENGTH = 24;
const NICK_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;
const ROOM_PATTERN = /^#[a-z0-9][a-z0-9_-]*$/;
const CRLF = '\r\n';

export interface ChatOptions {
  /** Public lines a newcomer to a room sees (0: none). */
  historyLines: number;
  /** Prefix lines with [HH:MM]. */
  timestamps: boolean;
  /** Message of the day, shown after the welcome. */
  motd: readonly string[];
  /** The line limit, for the notice to a sender whose line was cut. */
  maxLineBytes: number;
  /** The clock (tests may set it). */
  now?: () => Date;
}

interface Member {
  readonly connection: Connection;
  nick: string;
  room: Room;
}

interface Room {
  readonly name: string;
  readonly members: Set<Member>;
  /** The last public lines, formatted, oldest first. */
  readonly history: string[];
}

export class Chat implements ChatHandler {
  private delivery: Delivery | null = null;
  private readonly members = new Map<number, Member>();
  /** Members by lower-cased nick: names are unique regardless of case. */
  private readonly byNick = new Map<string, Member>();
  private readonly rooms = new Map<string, Room>();
  private guests = 0;
  private readonly now: () => Date;

  constructor(private readonly options: ChatOptions) {
    this.now = options.now ?? (() => new Date());
    this.room(LOBBY);
  }

  attach(delivery: Delivery): void {
    this.delivery = delivery;
  }

  // ---------------------------------------------------------------- events

  onConnect(connection: Connection): void {
    const lobby = this.room(LOBBY);
    const member: Member = { connection, nick: this.guestName(), room: lobby };
    this.members.set(connection.pid, member);
    this.byNick.set(member.nick.toLowerCase(), member);
    const others = [...lobby.members].map((m) => m.nick);
    lobby.members.add(member);
    this.tell(member, `Welcome to posix-chat, ${member.nick}! You are in ${LOBBY}.`);
    this.tell(member, others.length > 0 ? `Here with you: ${others.join(', ')}.` : 'Nobody else is here yet.');
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
    this.publicLine(member, `${this.stamp()}<${member.nick}> ${said}`);
  }

  onDisconnect(connection: Connection, reason: DisconnectReason): void {
    const member = this.members.get(connection.pid);
    if (member === undefined) return;
    this.members.delete(connection.pid);
    this.byNick.delete(member.nick.toLowerCase());
    this.leaveRoom(member);
    if (reason.kind === 'shutdown') return;
    this.toRoom(member.room, this.announcement(`${member.nick} left (${describeLeave(reason)})`));
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
        return this.help(member);
      case 'nick':
        return this.nick(member, args);
      case 'who':
        return this.who(member, args);
      case 'me':
        if (args === '') return this.tell(member, 'Usage: /me ACTION');
        return this.publicLine(member, `${this.stamp()}* ${member.nick} ${args}`);
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

  private help(member: Member): void {
    for (const line of HELP) this.tell(member, line);
  }

  private nick(member: Member, wanted: string): void {
    const problem = checkNick(wanted);
    if (problem !== null) return this.tell(member, problem);
    const holder = this.byNick.get(wanted.toLowerCase());
    if (holder !== undefined && holder !== member) return this.tell(member, `The name ${wanted} is taken. Try another.`);
    if (wanted === member.nick) return this.tell(member, `You are already ${wanted}.`);
    const old = member.nick;
    this.byNick.delete(old.toLowerCase());
    member.nick = wanted;
    this.byNick.set(wanted.toLowerCase(), member);
    this.tell(member, `You are now known as ${wanted}.`);
    this.toRoom(member.room, this.announcement(`${old} is now known as ${wanted}`), member);
  }

  private who(member: Member, args: string): void {
    const everyone = args === '*';
    const list = everyone ? [...this.members.values()] : [...member.room.members];
    list.sort((a, b) => a.nick.localeCompare(b.nick));
    const where = everyone ? 'online' : `in ${member.room.name}`;
    this.tell(member, `${list.length} ${list.length === 1 ? 'person' : 'people'} ${where}:`);
    const now = Date.now();
    for (const m of list) {
      const room = everyone ? ` ${m.room.name}` : '';
      const you = m === member ? ' (you)' : '';
      this.tell(member, `  ${m.nick.padEnd(MAX_NICK_LENGTH)}${room} idle ${formatIdle(now - m.connection.lastActive)}${you}`);
    }
  }

  private privateMessage(member: Member, args: string): void {
    const space = args.indexOf(' ');
    const name = space === -1 ? args : args.slice(0, space);
    const text = space === -1 ? '' : args.slice(space + 1).trim();
    if (name === '' || text === '') return this.tell(member, 'Usage: /msg NAME TEXT');
    const target = this.byNick.get(name.toLowerCase());
    if (target === undefined) return this.tell(member, `Nobody called ${name.slice(0, MAX_NICK_LENGTH + 8)} is online. /who * lists everyone.`);
    if (target === member) return this.tell(member, 'That is you.');
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
    this.toRoom(from, this.announcement(`${member.nick} left for ${name}`));
    const to = this.room(name);
    const others = [...to.members].map((m) => m.nick);
    to.members.add(member);
    member.room = to;
    this.tell(member, `You are now in ${name}. ${others.length > 0 ? `Here with you: ${others.join(', ')}.` : 'Nobody else is here yet.'}`);
    this.showHistory(member);
    this.toRoom(to, this.announcement(`${member.nick} joined ${name}`), member);
  }

  private listRooms(member: Member): void {
    const rooms = [...this.rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
    this.tell(member, `Rooms: ${rooms.map((r) => `${r.name} (${r.members.size})`).join(', ')}`);
  }

  private quit(member: Member, reason: string): void {
    this.tell(member, 'Goodbye!');
    this.delivery?.disconnect(member.connection, { kind: 'quit', detail: reason.slice(0, 200) });
  }

  // --------------------------------------------------------------- helpers

  private publicLine(member: Member, line: string): void {
    const room = member.room;
    if (this.options.historyLines > 0) {
      room.history.push(line);
      if (room.history.length > this.options.historyLines) room.history.shift();
    }
    this.toRoom(room, line, member);
  }

  private showHistory(member: Member): void {
    const history = member.room.history;
    if (history.length === 0) return;
    this.tell(member, `Last ${history.length} ${history.length === 1 ? 'line' : 'lines'} in ${member.room.name}:`);
    for (const line of history) this.write(member, line);
  }

  /** Gets or creates a room. */
  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (room === undefined) {
      room = { name, members: new Set(), history: [] };
      this.rooms.set(name, room);
    }
    return room;
  }

  /** Takes a member out of its room; an empty room other than the lobby goes away. */
  private leaveRoom(member: Member): void {
    const room = member.room;
    room.members.delete(member);
    if (room.members.size === 0 && room.name !== LOBBY) this.rooms.delete(room.name);
  }

  private guestName(): string {
    let nick: string;
    do nick = `guest-${++this.guests}`;
    while (this.byNick.has(nick));
    return nick;
  }

  private stamp(): string {
    if (!this.options.timestamps) return '';
    const now = this.now();
    return `[${String(now.getHours()).padStart(2, '0')}:${String(now.getMinutes()).padStart(2, '0')}] `;
  }

  /** A line about someone, for a room: `[HH:MM] * alice joined #lobby`. */
  private announcement(text: string): string {
    return `${this.stamp()}* ${text}`;
  }

  /** A message from the server to one member. */
  private tell(member: Member, text: string): void {
    this.notice(member.connection, text);
  }

  private write(member: Member, line: string): void {
    this.delivery?.send(member.connection, Buffer.from(line + CRLF));
  }

  private toRoom(room: Room, line: string, except?: Member): void {
    const data = Buffer.from(line + CRLF); // one buffer shared by every recipient
    for (const m of room.members) if (m !== except) this.delivery?.send(m.connection, data);
  }
}

export const HELP: readonly string[] = [
  'Commands:',
  '  /nick NAME        choose your name (letters, digits, _ and -; up to 16)',
  '  /who              who is in your room, and how long they have been idle',
  '  /who *            everyone online, with their room',
  '  /me ACTION        say what you do:  * you ACTION',
  '  /msg NAME TEXT    a private message, to anyone in any room',
  '  /join #ROOM       go to a room (made if new); /join #lobby to come back',
  '  /rooms            the rooms and how many are in each',
  '  /quit [REASON]    leave (the others see the reason)',
  '  /help             this list',
  'Anything else you type goes to everyone in your room. Start a line with // to send a line that starts with /.',
];

/** Null when `nick` is acceptable, else why not. */
export function checkNick(nick: string): string | null {
  if (nick === '') return 'Usage: /nick NAME';
  if (nick.length > MAX_NICK_LENGTH) return `A name has at most ${MAX_NICK_LENGTH} characters.`;
  if (!NICK_PATTERN.test(nick)) return 'A name starts with a letter and has only letters, digits, _ and -.';
  return null;
}

/** Null when `name` (lower-cased, with its #) is an acceptable room name, else why not. */
export function checkRoom(name: string): string | null {
  if (name.length > MAX_ROOM_NAME_LENGTH + 1) return `A room name has at most ${MAX_ROOM_NAME_LENGTH} characters after the #.`;
  if (!ROOM_PATTERN.test(name)) return 'A room name is # then letters, digits, _ and - (like #games).';
  return null;
}

function describeLeave(reason: DisconnectReason): string {
  switch (reason.kind) {
    case 'quit':
      return reason.detail ? `quit: ${reason.detail}` : 'quit';
    case 'closed':
      return 'connection closed';
    case 'lost':
      return 'connection lost';
    case 'timeout':
      return 'timed out';
    case 'kicked':
      return reason.detail ? `disconnected: ${reason.detail}` : 'disconnected';
    default:
      return reason.detail ? `${reason.kind}: ${reason.detail}` : reason.kind;
  }
}

function formatIdle(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
