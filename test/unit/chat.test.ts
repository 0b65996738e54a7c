/**
 * Chat in-process: a fake Delivery records what each connection is sent; the
 * tests drive onConnect / onLine / onDisconnect (and the cluster listener) and
 * compare the exact lines.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Chat, HELP, MAX_NAMES_ON_ENTRY, type ChatOptions } from '../../src/chat/chat.js';
import type { Member } from '../../src/chat/model.js';
import { QUIET_ARRIVAL_MS } from '../../src/chat/rules.js';
import type { ChatEvent, Presence } from '../../src/cluster/protocol.js';
import type { ClusterListener, ClusterPort, Connection, Delivery, DisconnectReason, RoomGroup } from '../../src/contracts.js';

const CRLF = '\r\n';

// ------------------------------------------------------------------ fakes

/** A room: sends go to its members at once, so one added later never gets them and one removed later has them. */
class FakeGroup implements RoomGroup {
  readonly members = new Set<Connection>();
  constructor(private readonly delivery: FakeDelivery) {}
  add(connection: Connection): void {
    this.members.add(connection);
  }
  remove(connection: Connection): void {
    this.members.delete(connection);
  }
  send(data: Buffer, except: Connection | null = null): void {
    for (const member of this.members) if (member !== except) this.delivery.send(member, data);
  }
}

interface Kick {
  connection: Connection;
  reason: DisconnectReason;
}

class FakeDelivery implements Delivery {
  readonly connections = new Map<number, Connection>();
  readonly kicks: Kick[] = [];
  readonly groups: FakeGroup[] = [];
  /** What each connection was queued, in order, since the last take(). */
  private readonly queued = new Map<Connection, Buffer[]>();

  send(connection: Connection, data: Buffer): void {
    let queue = this.queued.get(connection);
    if (queue === undefined) this.queued.set(connection, (queue = []));
    queue.push(data);
  }
  sendTelnet(connection: Connection, command: Buffer): void {
    this.send(connection, command);
  }
  broadcast(data: Buffer, except?: Connection): void {
    for (const connection of this.connections.values()) if (connection !== except) this.send(connection, data);
  }
  group(): RoomGroup {
    const group = new FakeGroup(this);
    this.groups.push(group);
    return group;
  }
  disconnect(connection: Connection, reason: DisconnectReason): void {
    this.kicks.push({ connection, reason });
  }
  /** Connections whose send queue is full: canTake() says no. */
  readonly full = new Set<Connection>();
  canTake(connection: Connection): boolean {
    return !this.full.has(connection);
  }

  /** The lines queued for `connection` since the last take (each must end in CRLF), and forgets them. */
  take(connection: Connection): string[] {
    const text = Buffer.concat(this.queued.get(connection) ?? []).toString('utf8');
    this.queued.delete(connection);
    if (text === '') return [];
    expect(text.endsWith(CRLF), `output ends with CRLF: ${JSON.stringify(text)}`).toBe(true);
    return text.slice(0, -CRLF.length).split(CRLF);
  }

  forgetAll(): void {
    this.queued.clear();
  }
}

class FakeCluster implements ClusterPort {
  listener: ClusterListener | null = null;
  readonly published: ChatEvent[] = [];
  readonly claims: string[] = [];
  readonly releases: string[] = [];
  guest = 100;
  localUsers: () => Presence[] = () => [];
  readonly serverName = 'here';

  attach(listener: ClusterListener): void {
    this.listener = listener;
  }
  /** The server each published event was for: undefined for everyone, an instance for a private message. */
  readonly targets: (string | undefined)[] = [];
  publish(ev: ChatEvent, to?: string): void {
    this.published.push(ev);
    this.targets.push(to);
  }
  claim(nick: string): void {
    this.claims.push(nick);
  }
  release(nick: string): void {
    this.releases.push(nick);
  }
  nextGuest(): number {
    return ++this.guest;
  }
}

/** A chat with a fake delivery attached, and helpers to act as its clients. */
class Harness {
  readonly delivery = new FakeDelivery();
  readonly chat: Chat;
  private nextPid = 5000;
  /** With a cluster, /nick waits for a claim: person() grants it. */
  private readonly clustered: boolean;

  constructor(options: Partial<ChatOptions> = {}) {
    this.clustered = options.cluster !== undefined;
    this.chat = new Chat({ historyLines: 0, timestamps: false, motd: [], maxLineBytes: 400, ...options });
    this.chat.attach(this.delivery);
  }

  /** A new client, as the loop admits it: in `connections`, then onConnect. */
  connect(): Connection {
    const pid = this.nextPid++;
    const connection: Connection = { pid, fd: pid - 4000, address: '127.0.0.1', port: 40000 + pid, lastActive: Date.now() };
    this.delivery.connections.set(pid, connection);
    this.chat.onConnect(connection);
    return connection;
  }

  /** A new client, announced to the room (by a blank line: Enter), its welcome and everybody's notices about it out of the way. */
  join(): Connection {
    const connection = this.connect();
    this.say(connection, '');
    this.delivery.forgetAll();
    return connection;
  }

  /** A new client that took `nick` (with a cluster, granted at once); all output so far forgotten. */
  person(nick: string): Connection {
    const connection = this.connect();
    this.say(connection, `/nick ${nick}`);
    if (this.clustered) this.chat.onClaimed(nick, true);
    expect(this.take(connection)).toContain(`*** You are now known as ${nick}.`);
    this.delivery.forgetAll();
    return connection;
  }

  /**
   * A line from `connection`. The buffer is overwritten after the call, as the loop
   * reuses it: the chat must have copied anything it keeps.
   */
  say(connection: Connection, text: string, cut = false): void {
    const line = Buffer.from(text);
    this.chat.onLine(connection, line, cut);
    line.fill(0x58);
  }

  /** The loop drops the connection from `connections`, then tells the chat. */
  leave(connection: Connection, reason: DisconnectReason = { kind: 'closed' }): void {
    this.delivery.connections.delete(connection.pid);
    this.chat.onDisconnect(connection, reason);
  }

  take(connection: Connection): string[] {
    return this.delivery.take(connection);
  }

  /** The chat's member for `connection`. */
  member(connection: Connection): Member {
    const member = this.chat.members.get(connection.pid);
    if (member === undefined) throw new Error(`no member for pid ${connection.pid}`);
    return member;
  }
}

/** A /who row: two spaces, the nick padded to 16, then the details. */
const row = (nick: string, details: string): string => `***   ${nick.padEnd(16)}${details}`;

// ------------------------------------------------------------------ tests

describe('Chat#onConnect()', () => {
  it('welcomes the first newcomer as guest-1 with the help pointer and the motd, in order', () => {
    const h = new Harness({ motd: ['Be nice.', 'Rules: none.'] });
    const first = h.connect();
    expect(h.take(first)).toEqual([
      '*** Welcome to posix-chat, guest-1! You are in #lobby.',
      '*** Nobody else is here yet.',
      '*** Type /help for commands; /nick NAME to choose your name.',
      '*** Telnet is not encrypted: use a password you use nowhere else.',
      '*** Be nice.',
      '*** Rules: none.',
    ]);
  });

  it('names the next newcomer guest-2 and tells it who is here', () => {
    const h = new Harness();
    h.join();
    const second = h.connect();
    expect(h.take(second).slice(0, 2)).toEqual(['*** Welcome to posix-chat, guest-2! You are in #lobby.', '*** Here with you: guest-1.']);
  });

  it('keeps counting guest numbers after someone leaves', () => {
    const h = new Harness();
    const first = h.connect();
    h.leave(first);
    const second = h.connect();
    expect(h.take(second)[0]).toBe('*** Welcome to posix-chat, guest-2! You are in #lobby.');
  });

  it('tells the others a newcomer joined once it has been here QUIET_ARRIVAL_MS, but not the newcomer', () => {
    let now = Date.UTC(2024, 0, 2, 9, 5);
    const h = new Harness({ now: () => new Date(now) });
    const first = h.join();
    const second = h.join();
    const third = h.connect();
    now += QUIET_ARRIVAL_MS - 1;
    h.chat.tick();
    expect(h.take(first)).toEqual([]);
    now += 1;
    h.chat.tick();
    expect(h.take(first)).toEqual(['*** guest-3 joined #lobby']);
    expect(h.take(second)).toEqual(['*** guest-3 joined #lobby']);
    expect(h.take(third).some((line) => line.includes('joined'))).toBe(false);
    h.chat.tick();
    expect(h.take(first)).toEqual([]); // once
  });

  it('lists every name when exactly MAX_NAMES_ON_ENTRY others are here', () => {
    const h = new Harness();
    for (let i = 0; i < MAX_NAMES_ON_ENTRY; i++) h.join();
    const newcomer = h.connect();
    const names = Array.from({ length: MAX_NAMES_ON_ENTRY }, (_, i) => `guest-${i + 1}`);
    expect(h.take(newcomer)[1]).toBe(`*** Here with you: ${names.join(', ')}.`);
  });

  it('lists the first MAX_NAMES_ON_ENTRY names and a count when more are here', () => {
    const h = new Harness();
    for (let i = 0; i < MAX_NAMES_ON_ENTRY + 3; i++) h.join();
    const newcomer = h.connect();
    const names = Array.from({ length: MAX_NAMES_ON_ENTRY }, (_, i) => `guest-${i + 1}`);
    expect(h.take(newcomer)[1]).toBe(`*** Here with you: ${names.join(', ')} and 3 more (/who lists everyone).`);
  });

  it('keeps the count of "and N more" as people leave, change rooms and are announced', () => {
    let now = Date.UTC(2024, 0, 2, 9, 5);
    const h = new Harness({ now: () => new Date(now) });
    const here = Array.from({ length: MAX_NAMES_ON_ENTRY + 3 }, () => h.join());
    const names = Array.from({ length: MAX_NAMES_ON_ENTRY }, (_, i) => `guest-${i + 1}`);
    h.leave(here[MAX_NAMES_ON_ENTRY] as Connection); // the 21st
    h.say(here[MAX_NAMES_ON_ENTRY + 1] as Connection, '/join #games'); // the 22nd
    h.connect(); // still arriving: not counted until announced
    const newcomer = h.connect();
    expect(h.take(newcomer)[1]).toBe(`*** Here with you: ${names.join(', ')} and 1 more (/who lists everyone).`);
    now += QUIET_ARRIVAL_MS;
    h.chat.tick(); // both newcomers are announced
    h.leave(here[0] as Connection);
    const last = h.connect();
    const named = [...names.slice(1), `guest-${MAX_NAMES_ON_ENTRY + 3}`];
    expect(h.take(last)[1]).toBe(`*** Here with you: ${named.join(', ')} and 2 more (/who lists everyone).`);
    h.say(here[MAX_NAMES_ON_ENTRY + 1] as Connection, '/join #lobby');
    const back = h.connect(); // \`last\` is still arriving: not counted
    expect(h.take(back)[1]).toBe(`*** Here with you: ${named.join(', ')} and 3 more (/who lists everyone).`);
  });

  it('shows the last historyLines public lines of the lobby after the welcome', () => {
    const h = new Harness({ historyLines: 2, motd: ['motd'] });
    const alice = h.person('alice');
    h.say(alice, 'one');
    h.say(alice, 'two');
    h.say(alice, 'three');
    const newcomer = h.connect();
    expect(h.take(newcomer).slice(4)).toEqual(['*** motd', '*** Last 2 lines in #lobby:', '<alice> two', '<alice> three']);
  });

  it('says "line" for a history of one', () => {
    const h = new Harness({ historyLines: 5 });
    const alice = h.person('alice');
    h.say(alice, 'only');
    const newcomer = h.connect();
    expect(h.take(newcomer).slice(4)).toEqual(['*** Last 1 line in #lobby:', '<alice> only']);
  });

  it('shows no history when historyLines is 0', () => {
    const h = new Harness({ historyLines: 0 });
    const alice = h.person('alice');
    h.say(alice, 'one');
    const newcomer = h.connect();
    expect(h.take(newcomer)).toHaveLength(4);
  });
});

describe('Chat: announcing a newcomer', () => {
  it('never tells the room about a newcomer that leaves without a word before QUIET_ARRIVAL_MS (a port scanner, a health check)', () => {
    let now = Date.UTC(2024, 0, 2, 9, 5);
    const h = new Harness({ now: () => new Date(now) });
    const alice = h.person('alice');
    const scanner = h.connect();
    now += QUIET_ARRIVAL_MS - 1;
    h.chat.tick();
    h.leave(scanner);
    now += QUIET_ARRIVAL_MS;
    h.chat.tick();
    expect(h.take(alice)).toEqual([]);
  });

  it.each([
    ['just before its first line', 'hello', ['*** guest-2 joined #lobby', '<guest-2> hello']],
    ['after any other first command, such as /who', '/who', ['*** guest-2 joined #lobby']],
    ['before what its first command does to the room, such as /me', '/me waves', ['*** guest-2 joined #lobby', '* guest-2 waves']],
  ])('announces a newcomer %s', (_when, first, heard) => {
    const h = new Harness();
    const alice = h.person('alice');
    const newcomer = h.connect();
    h.say(newcomer, first);
    expect(h.take(alice)).toEqual(heard);
  });

  it('announces a newcomer whose first command is /nick under its new name, with no rename notice', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const newcomer = h.connect();
    h.say(newcomer, '/nick bob');
    expect(h.take(alice)).toEqual(['*** bob joined #lobby']);
    expect(h.take(newcomer).at(-1)).toBe('*** You are now known as bob.');
  });

  it('announces a newcomer whose first command is /join only in the room it went to', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const carol = h.person('carol');
    h.say(carol, '/join #games');
    h.delivery.forgetAll();
    const newcomer = h.connect();
    h.say(newcomer, '/join #games');
    expect(h.take(alice)).toEqual([]);
    expect(h.take(carol)).toEqual(['*** guest-3 joined #games']);
  });

  it('leaves a newcomer nobody has heard of out of "Here with you", /who and /rooms, but not out of its own', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const quiet = h.connect();
    const third = h.connect();
    expect(h.take(third)[1]).toBe('*** Here with you: alice.');
    h.say(alice, '/who');
    expect(h.take(alice)).toEqual(['*** 1 person in #lobby:', row('alice', ' idle 0s (you)')]);
    h.say(alice, '/rooms');
    expect(h.take(alice)).toEqual(['*** Rooms: #lobby (1)']);
    h.say(quiet, '/rooms'); // its command: it is announced first, so it counts itself and the room hears of it
    expect(h.take(quiet).at(-1)).toBe('*** Rooms: #lobby (2)');
  });

  it('does not announce a newcomer at a password prompt when QUIET_ARRIVAL_MS is up, only once it is done', () => {
    let now = Date.UTC(2024, 0, 2, 9, 5);
    const h = new Harness({ now: () => new Date(now) });
    const alice = h.person('alice');
    const newcomer = h.member(h.connect());
    newcomer.prompt = { kind: 'checking' }; // as /login leaves it while the hasher checks
    now += QUIET_ARRIVAL_MS;
    h.chat.tick();
    expect(h.take(alice)).toEqual([]);
    newcomer.prompt = null;
    h.chat.tick();
    expect(h.take(alice)).toEqual(['*** guest-2 joined #lobby']);
  });

  it('announces a newcomer that came "later" than now once the clock is set back, rather than never', () => {
    let now = Date.UTC(2024, 0, 2, 9, 5);
    const h = new Harness({ now: () => new Date(now) });
    const alice = h.person('alice');
    h.connect();
    now -= 3_600_000;
    h.chat.tick();
    expect(h.take(alice)).toEqual(['*** guest-2 joined #lobby']);
  });

  it('tells the room when an announced newcomer leaves', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const newcomer = h.connect();
    h.say(newcomer, '');
    h.leave(newcomer);
    expect(h.take(alice)).toEqual(['*** guest-2 joined #lobby', '*** guest-2 left (connection closed)']);
  });
});

describe('Chat: rooms too large to hear who comes and goes (announceUpTo)', () => {
  it('tells a room of its arrivals, moves and departures only while at most that many others are in it', () => {
    const h = new Harness({ announceUpTo: 2 });
    const alice = h.person('alice');
    const bob = h.person('bob');
    const carol = h.connect();
    h.say(carol, 'here');
    expect(h.take(alice)).toEqual(['*** guest-3 joined #lobby', '<guest-3> here']); // two others: told
    const dave = h.connect(); // three others would: nobody is told
    h.say(dave, 'hi');
    expect(h.take(alice)).toEqual(['<guest-4> hi']);
    h.say(dave, '/join #side'); // three would hear that it left: nobody; #side is empty
    expect(h.take(alice)).toEqual([]);
    h.delivery.forgetAll();
    h.say(bob, '/join #side'); // one hears it in #side; two in #lobby
    expect(h.take(dave)).toEqual(['*** bob joined #side']);
    expect(h.take(alice)).toEqual(['*** bob left for #side']);
    h.leave(carol); // one other left in #lobby
    expect(h.take(alice)).toEqual(['*** guest-3 left (connection closed)']);
    h.say(alice, '/who');
    expect(h.take(alice)[0]).toBe('*** 1 person in #lobby:');
  });

  it('applies to news from other servers too', () => {
    const { h, remote } = clustered({ announceUpTo: 1 });
    const alice = h.person('alice');
    h.person('bob');
    h.delivery.forgetAll();
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    remote.onRemoteEvent('o2', 'srv2', { k: 'leave', nick: 'zoe', room: '#lobby', why: 'quit' }, false);
    remote.onRemoteEvent('o2', 'srv2', { k: 'line', room: '#lobby', nick: 'zoe', text: 'still said', me: false }, false);
    expect(h.take(alice)).toEqual(['<zoe> still said']);
  });
});

describe('Chat#onLine()', () => {
  it('sends a public line to everyone in the room but not back to the sender', () => {
    const h = new Harness();
    const a = h.join();
    const b = h.join();
    const c = h.join();
    h.say(a, 'hello there');
    expect(h.take(b)).toEqual(['<guest-1> hello there']);
    expect(h.take(c)).toEqual(['<guest-1> hello there']);
    expect(h.take(a)).toEqual([]);
  });

  it('sends a line starting with // as a line starting with /', () => {
    const h = new Harness();
    const a = h.join();
    const b = h.join();
    h.say(a, '//nick is not a command');
    expect(h.take(b)).toEqual(['<guest-1> /nick is not a command']);
    expect(h.take(a)).toEqual([]);
  });

  it('sends nothing for a blank line', () => {
    const h = new Harness();
    const a = h.join();
    const b = h.join();
    h.say(a, '   ');
    h.say(a, '');
    expect(h.take(b)).toEqual([]);
    expect(h.take(a)).toEqual([]);
  });

  it('tells the sender its line was cut when cut, and still sends it', () => {
    const h = new Harness();
    const a = h.join();
    const b = h.join();
    h.say(a, 'a long line', true);
    expect(h.take(a)).toEqual(['*** Your line was longer than 400 bytes and was cut.']);
    expect(h.take(b)).toEqual(['<guest-1> a long line']);
  });

  it('does not mention cutting when the line was not cut', () => {
    const h = new Harness();
    const a = h.join();
    h.join();
    h.say(a, 'short', false);
    expect(h.take(a)).toEqual([]);
  });

  it('answers an unknown command, with the word shortened to 32 characters', () => {
    const h = new Harness();
    const a = h.join();
    h.say(a, '/frobnicate now');
    h.say(a, `/${'x'.repeat(40)}`);
    expect(h.take(a)).toEqual([
      '*** Unknown command /frobnicate. Type /help for the list.',
      `*** Unknown command /${'x'.repeat(32)}. Type /help for the list.`,
    ]);
  });

  it('takes commands in any case', () => {
    const h = new Harness();
    const a = h.join();
    h.say(a, '/NICK alice');
    expect(h.take(a)).toEqual(['*** You are now known as alice.']);
  });

  it('lists the commands for /help', () => {
    const h = new Harness();
    const a = h.join();
    h.say(a, '/help');
    expect(h.take(a)).toEqual(HELP.map((line) => `*** ${line}`));
  });

  it('keeps /help within 79 columns, so it does not wrap on an 80-column terminal', () => {
    const h = new Harness();
    const a = h.join();
    h.say(a, '/help');
    for (const line of h.take(a)) expect(line.length, line).toBeLessThanOrEqual(79);
  });

  it('ignores a line from a connection it does not know', () => {
    const h = new Harness();
    const a = h.join();
    const stranger: Connection = { pid: 1, fd: 99, address: '127.0.0.1', port: 1, lastActive: 0 };
    h.say(stranger, 'hi');
    h.say(stranger, '/quit');
    expect(h.take(a)).toEqual([]);
    expect(h.take(stranger)).toEqual([]);
    expect(h.delivery.kicks).toEqual([]);
  });

  it('keeps its history when the loop reuses the line buffer', () => {
    const h = new Harness({ historyLines: 3 });
    const a = h.join();
    h.say(a, 'kept intact'); // say() overwrites the buffer after the call
    const b = h.connect();
    expect(h.take(b).slice(-1)).toEqual(['<guest-1> kept intact']);
  });

  it('stamps public lines, announcements and private messages with the injected clock as [HH:MM]', () => {
    let now = new Date(2024, 0, 2, 9, 5);
    const h = new Harness({ timestamps: true, historyLines: 5, now: () => now });
    const a = h.join();
    const b = h.connect();
    h.say(b, '');
    expect(h.take(a)).toEqual(['[09:05] *** guest-2 joined #lobby']);
    expect(h.take(b)[0]).toBe('*** Welcome to posix-chat, guest-2! You are in #lobby.');
    h.say(a, 'hi');
    h.say(a, '/me waves');
    expect(h.take(b)).toEqual(['[09:05] <guest-1> hi', '[09:05] * guest-1 waves']);
    now = new Date(2024, 0, 2, 23, 59);
    h.say(a, '/msg guest-2 psst');
    expect(h.take(b)).toEqual(['[23:59] *guest-1* psst']);
    expect(h.take(a)).toEqual(['[23:59] -> *guest-2* psst']);
    const c = h.connect();
    // History keeps the time each line was said; notices carry no stamp.
    expect(h.take(c).slice(4)).toEqual(['*** Last 2 lines in #lobby:', '[09:05] <guest-1> hi', '[09:05] * guest-1 waves']);
  });

  it('starts each line with the minute and the name it was said at, as they change between lines', () => {
    let now = new Date(2024, 0, 2, 9, 5, 59);
    const h = new Harness({ timestamps: true, now: () => now });
    const a = h.join();
    const b = h.join();
    h.say(a, 'one');
    now = new Date(2024, 0, 2, 9, 6, 0);
    h.say(a, 'two');
    h.say(a, '/nick ann');
    h.say(a, 'three, h\u00e9 \u2713');
    h.say(a, '//four');
    expect(h.take(b)).toEqual(['[09:05] <guest-1> one', '[09:06] <guest-1> two', '[09:06] *** guest-1 is now known as ann', '[09:06] <ann> three, h\u00e9 \u2713', '[09:06] <ann> /four']);
  });

  it('writes no stamp when timestamps are off', () => {
    const h = new Harness({ timestamps: false, now: () => new Date(2024, 0, 2, 9, 5) });
    const a = h.join();
    const b = h.join();
    h.say(a, 'hi');
    expect(h.take(b)).toEqual(['<guest-1> hi']);
  });
});

describe('Chat /nick', () => {
  it('renames the sender and tells the room, not the sender, the old and new name', () => {
    const h = new Harness();
    const a = h.join();
    const b = h.join();
    h.say(a, '/nick alice');
    expect(h.take(a)).toEqual(['*** You are now known as alice.']);
    expect(h.take(b)).toEqual(['*** guest-1 is now known as alice']);
    h.say(a, 'hi');
    expect(h.take(b)).toEqual(['<alice> hi']);
  });

  it.each([
    ['', 'Usage: /nick NAME'],
    ['abcdefghijklmnopq', 'A name has at most 16 characters.'],
    ['1alice', 'A name starts with a letter a-z or A-Z and has only such letters, digits, _ and -.'],
    ['al ice', 'A name starts with a letter a-z or A-Z and has only such letters, digits, _ and -.'],
    ['al.ice', 'A name starts with a letter a-z or A-Z and has only such letters, digits, _ and -.'],
  ])('refuses the invalid name %j', (wanted, problem) => {
    const h = new Harness();
    const a = h.join();
    const b = h.join();
    h.say(a, `/nick ${wanted}`);
    expect(h.take(a)).toEqual([`*** ${problem}`]);
    expect(h.take(b)).toEqual([]);
  });

  it('accepts a name of exactly 16 characters with digits, _ and -', () => {
    const h = new Harness();
    const a = h.join();
    h.say(a, '/nick a_b-c0123456789');
    expect(h.take(a)).toEqual(['*** You are now known as a_b-c0123456789.']);
  });

  it('refuses a name someone has, whatever its case', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const b = h.join();
    h.say(b, '/nick ALICE');
    expect(h.take(b)).toEqual(['*** The name ALICE is taken. Try another.']);
    expect(h.take(alice)).toEqual([]);
    h.say(b, 'still me');
    expect(h.take(alice)).toEqual(['<guest-2> still me']);
  });

  it.each(['guest-7', 'GUEST-2', 'Guest-100'])('refuses the guest name %s', (wanted) => {
    const h = new Harness();
    const a = h.join();
    h.say(a, `/nick ${wanted}`);
    expect(h.take(a)).toEqual(['*** Names like guest-12 are given to newcomers. Choose another.']);
  });

  it('says "You are already" for the name the sender has', () => {
    const h = new Harness();
    const alice = h.person('alice');
    h.say(alice, '/nick alice');
    expect(h.take(alice)).toEqual(['*** You are already alice.']);
  });

  it('lets someone change the case of its own name, which then stays taken', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const b = h.join();
    h.say(alice, '/nick Alice');
    expect(h.take(alice)).toEqual(['*** You are now known as Alice.']);
    expect(h.take(b)).toEqual(['*** alice is now known as Alice']);
    h.say(b, '/nick alice');
    expect(h.take(b)).toEqual(['*** The name alice is taken. Try another.']);
  });

  it('frees the old name on a rename', () => {
    const h = new Harness();
    const a = h.person('alice');
    h.say(a, '/nick carol');
    const b = h.join();
    h.say(b, '/nick alice');
    expect(h.take(b)).toEqual(['*** You are now known as alice.']);
  });

  it('frees the name of someone who left', () => {
    const h = new Harness();
    const a = h.person('alice');
    h.leave(a);
    const b = h.join();
    h.say(b, '/nick alice');
    expect(h.take(b)).toEqual(['*** You are now known as alice.']);
  });
});

describe('Chat /me', () => {
  it('sends "* nick action" to the room but not the sender', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const b = h.join();
    h.say(alice, '/me waves at everyone');
    expect(h.take(b)).toEqual(['* alice waves at everyone']);
    expect(h.take(alice)).toEqual([]);
  });

  it('answers the usage when there is no action', () => {
    const h = new Harness();
    const a = h.join();
    const b = h.join();
    h.say(a, '/me   ');
    expect(h.take(a)).toEqual(['*** Usage: /me ACTION']);
    expect(h.take(b)).toEqual([]);
  });
});

describe('Chat /msg', () => {
  it('tells the sender, and queues nothing, when the target is not reading', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.delivery.full.add(bob);
    h.say(alice, '/msg bob are you there?');
    expect(h.take(alice)).toEqual(['*** bob is not reading right now; your message was not sent. Try again later.']);
    expect(h.take(bob)).toEqual([]);
    expect(h.delivery.kicks).toEqual([]);
  });

  it('sends a private line to its target only, and echoes it to the sender', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    const carol = h.person('carol');
    h.say(alice, '/msg BOB  see you at 5 ');
    expect(h.take(bob)).toEqual(['*alice* see you at 5']);
    expect(h.take(alice)).toEqual(['-> *bob* see you at 5']);
    expect(h.take(carol)).toEqual([]);
  });

  it('reaches someone in another room', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(bob, '/join #games');
    h.delivery.forgetAll();
    h.say(alice, '/msg bob psst');
    expect(h.take(bob)).toEqual(['*alice* psst']);
  });

  it('says nobody has the name when nobody has it', () => {
    const h = new Harness();
    const alice = h.person('alice');
    h.say(alice, '/msg zed hello');
    expect(h.take(alice)).toEqual(['*** Nobody called zed is online. /who * lists everyone.']);
  });

  it('shortens an unknown name in its answer to 24 characters', () => {
    const h = new Harness();
    const alice = h.person('alice');
    h.say(alice, `/msg ${'z'.repeat(40)} hello`);
    expect(h.take(alice)).toEqual([`*** Nobody called ${'z'.repeat(24)} is online. /who * lists everyone.`]);
  });

  it('says "That is you." for a message to oneself', () => {
    const h = new Harness();
    const alice = h.person('alice');
    h.say(alice, '/msg Alice hello me');
    expect(h.take(alice)).toEqual(['*** That is you.']);
  });

  it.each(['/msg', '/msg bob', '/msg bob    '])('answers the usage for %j', (line) => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, line);
    expect(h.take(alice)).toEqual(['*** Usage: /msg NAME TEXT']);
    expect(h.take(bob)).toEqual([]);
  });
});

describe('Chat /join', () => {
  it('moves the sender to a new room and tells the room it left', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/join #games');
    expect(h.take(alice)).toEqual(['*** You are now in #games. Nobody else is here yet.']);
    expect(h.take(bob)).toEqual(['*** alice left for #games']);
  });

  it('announces a newcomer in both rooms and tells it who is there', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    const carol = h.person('carol');
    h.say(alice, '/join #games');
    h.delivery.forgetAll();
    h.say(bob, '/join #games');
    expect(h.take(bob)).toEqual(['*** You are now in #games. Here with you: alice.']);
    expect(h.take(alice)).toEqual(['*** bob joined #games']);
    expect(h.take(carol)).toEqual(['*** bob left for #games']);
  });

  it('adds the # and lower-cases the name', () => {
    const h = new Harness();
    const alice = h.person('alice');
    h.say(alice, '/join Games');
    expect(h.take(alice)).toEqual(['*** You are now in #games. Nobody else is here yet.']);
    h.say(alice, '/join #GAMES');
    expect(h.take(alice)).toEqual(['*** You are already in #games.']);
  });

  it('keeps public lines inside the room', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    const carol = h.person('carol');
    h.say(alice, '/join #games');
    h.say(bob, '/join #games');
    h.delivery.forgetAll();
    h.say(alice, 'in games');
    h.say(carol, 'in lobby');
    expect(h.take(bob)).toEqual(['<alice> in games']);
    expect(h.take(carol)).toEqual([]);
    expect(h.take(alice)).toEqual([]);
  });

  it('brings the sender back to the lobby with /join #lobby', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/join #games');
    h.delivery.forgetAll();
    h.say(alice, '/join #lobby');
    expect(h.take(alice)).toEqual(['*** You are now in #lobby. Here with you: bob.']);
    expect(h.take(bob)).toEqual(['*** alice joined #lobby']);
    h.say(bob, 'welcome back');
    expect(h.take(alice)).toEqual(['<bob> welcome back']);
  });

  it('says "You are already in" for the current room', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/join #lobby');
    expect(h.take(alice)).toEqual(['*** You are already in #lobby.']);
    expect(h.take(bob)).toEqual([]);
  });

  it.each([
    ['/join', 'Usage: /join #ROOM'],
    ['/join #', 'A room name is # then letters, digits, _ and - (like #games).'],
    ['/join #a.b', 'A room name is # then letters, digits, _ and - (like #games).'],
    ['/join #-ab', 'A room name is # then letters, digits, _ and - (like #games).'],
    ['/join #two words', 'A room name is # then letters, digits, _ and - (like #games).'],
    [`/join #${'r'.repeat(25)}`, 'A room name has at most 24 characters after the #.'],
  ])('refuses %j', (line, problem) => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, line);
    expect(h.take(alice)).toEqual([`*** ${problem}`]);
    expect(h.take(bob)).toEqual([]);
    h.say(alice, 'still here');
    expect(h.take(bob)).toEqual(['<alice> still here']);
  });

  it('accepts a room name of exactly 24 characters', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const name = `#${'r'.repeat(24)}`;
    h.say(alice, `/join ${name}`);
    expect(h.take(alice)).toEqual([`*** You are now in ${name}. Nobody else is here yet.`]);
  });

  it('shows the room history on entry when historyLines > 0', () => {
    const h = new Harness({ historyLines: 2 });
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/join #games');
    h.say(alice, 'one');
    h.say(alice, '/me two');
    h.say(alice, 'three');
    h.delivery.forgetAll();
    h.say(bob, '/join #games');
    expect(h.take(bob)).toEqual([
      '*** You are now in #games. Here with you: alice.',
      '*** Last 2 lines in #games:',
      '* alice two',
      '<alice> three',
    ]);
  });

  it('keeps a room history after the room empties', () => {
    const h = new Harness({ historyLines: 3 });
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/join #games');
    h.say(alice, 'remember me');
    h.say(alice, '/join #lobby');
    h.delivery.forgetAll();
    h.say(bob, '/join #games');
    expect(h.take(bob)).toEqual(['*** You are now in #games. Nobody else is here yet.', '*** Last 1 line in #games:', '<alice> remember me']);
  });

  it('shows no history on entry when historyLines is 0', () => {
    const h = new Harness({ historyLines: 0 });
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/join #games');
    h.say(alice, 'one');
    h.delivery.forgetAll();
    h.say(bob, '/join #games');
    expect(h.take(bob)).toEqual(['*** You are now in #games. Here with you: alice.']);
  });

  it('does not show the history of other rooms', () => {
    const h = new Harness({ historyLines: 5 });
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, 'lobby talk');
    h.delivery.forgetAll();
    h.say(bob, '/join #games');
    expect(h.take(bob)).toEqual(['*** You are now in #games. Nobody else is here yet.']);
  });
});

describe('Chat /rooms', () => {
  it('lists the rooms, sorted, with how many are in each', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.person('carol');
    h.say(alice, '/join #zoo');
    h.say(bob, '/join #games');
    h.delivery.forgetAll();
    h.say(bob, '/rooms');
    expect(h.take(bob)).toEqual(['*** Rooms: #games (1), #lobby (1), #zoo (1)']);
  });

  it('drops an emptied room but keeps an empty lobby', () => {
    const h = new Harness();
    const alice = h.person('alice');
    h.say(alice, '/join #games');
    h.say(alice, '/join #zoo');
    h.delivery.forgetAll();
    h.say(alice, '/rooms');
    expect(h.take(alice)).toEqual(['*** Rooms: #lobby (0), #zoo (1)']);
  });
});

describe('Chat /who', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const T0 = new Date(2024, 5, 1, 12, 0, 0).getTime();

  it('lists the room, sorted, with idle times and (you)', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const h = new Harness();
    const zed = h.person('zed');
    const bob = h.person('bob');
    const amy = h.person('amy');
    const other = h.person('other');
    h.say(other, '/join #games');
    zed.lastActive = T0 - 5_000;
    bob.lastActive = T0 - 125_000;
    amy.lastActive = T0 - 3_900_000;
    h.delivery.forgetAll();
    h.say(bob, '/who');
    expect(h.take(bob)).toEqual([
      '*** 3 people in #lobby:',
      '***   amy              idle 1h05m',
      row('bob', ' idle 2m (you)'),
      row('zed', ' idle 5s'),
    ]);
  });

  it('says "1 person" for one', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const h = new Harness();
    const alice = h.person('alice');
    alice.lastActive = T0 - 59_999;
    h.say(alice, '/who');
    expect(h.take(alice)).toEqual(['*** 1 person in #lobby:', row('alice', ' idle 59s (you)')]);
  });

  it('answers its usage to /who with anything but * (it lists rooms, not one person)', () => {
    const h = new Harness();
    const carol = h.person('carol');
    h.say(carol, '/who anna');
    expect(h.take(carol)).toEqual(['*** Usage: /who (your room) or /who * (everyone online)']);
  });

  it('lists everyone online with their rooms for /who *', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const h = new Harness();
    const carol = h.person('carol');
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(bob, '/join #games');
    carol.lastActive = T0;
    alice.lastActive = T0 - 7_200_000;
    bob.lastActive = T0 - 60_000;
    h.delivery.forgetAll();
    h.say(carol, '/who *');
    expect(h.take(carol)).toEqual([
      '*** 3 people online:',
      row('alice', ' #lobby idle 2h00m'),
      row('bob', ' #games idle 1m'),
      row('carol', ' #lobby idle 0s (you)'),
    ]);
  });

  it('no longer lists someone who left', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.leave(bob);
    h.delivery.forgetAll();
    h.say(alice, '/who *');
    const lines = h.take(alice);
    expect(lines[0]).toBe('*** 1 person online:');
    expect(lines.some((line) => line.includes('bob'))).toBe(false);
  });
});

describe('Chat /quit', () => {
  it('says Goodbye and asks the delivery to disconnect with kind quit', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/quit');
    expect(h.take(alice)).toEqual(['*** Goodbye!']);
    expect(h.delivery.kicks).toEqual([{ connection: alice, reason: { kind: 'quit', detail: '' } }]);
    // The chat itself does not announce the leave: that comes with onDisconnect.
    expect(h.take(bob)).toEqual([]);
  });

  it('passes the reason on, and the room hears it when the connection ends', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/quit  off to bed ');
    const kick = h.delivery.kicks[0];
    expect(kick?.reason).toEqual({ kind: 'quit', detail: 'off to bed' });
    h.leave(alice, kick?.reason);
    expect(h.take(bob)).toEqual(['*** alice left (quit: off to bed)']);
  });

  it('never announces a newcomer whose first command is /quit, then or later', () => {
    let now = Date.UTC(2024, 0, 2, 9, 5);
    const h = new Harness({ now: () => new Date(now) });
    const bob = h.person('bob');
    const newcomer = h.connect();
    h.take(bob);
    h.say(newcomer, '/quit bye');
    h.say(newcomer, 'sent in the same read, after the /quit');
    expect(h.take(newcomer)).toContain('*** Goodbye!');
    now += QUIET_ARRIVAL_MS;
    h.chat.tick();
    h.leave(newcomer, h.delivery.kicks[0]?.reason);
    expect(h.take(bob)).toEqual([]);
  });

  it('drops what a member sends after its /quit, before the connection ends', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(alice, '/quit');
    h.say(alice, 'one more thing');
    h.say(alice, '/nick carol');
    h.leave(alice, h.delivery.kicks[0]?.reason);
    expect(h.take(bob)).toEqual(['*** alice left (quit)']);
  });

  it('cuts the reason to 200 characters', () => {
    const h = new Harness();
    const alice = h.person('alice');
    h.say(alice, `/quit ${'r'.repeat(300)}`);
    expect(h.delivery.kicks[0]?.reason).toEqual({ kind: 'quit', detail: 'r'.repeat(200) });
  });
});

describe('Chat#onDisconnect()', () => {
  it.each<[DisconnectReason, string]>([
    [{ kind: 'closed' }, '*** alice left (connection closed)'],
    [{ kind: 'lost' }, '*** alice left (connection lost)'],
    [{ kind: 'timeout' }, '*** alice left (timed out)'],
    [{ kind: 'quit' }, '*** alice left (quit)'],
    [{ kind: 'kicked' }, '*** alice left (disconnected)'],
    [{ kind: 'kicked', detail: 'send queue over 262144 bytes' }, '*** alice left (disconnected: send queue over 262144 bytes)'],
  ])('tells the room why for %j', (reason, line) => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.leave(alice, reason);
    expect(h.take(bob)).toEqual([line]);
    expect(h.take(alice)).toEqual([]);
  });

  it('tells only the room the leaver was in', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    const carol = h.person('carol');
    h.say(alice, '/join #games');
    h.say(bob, '/join #games');
    h.delivery.forgetAll();
    h.leave(alice);
    expect(h.take(bob)).toEqual(['*** alice left (connection closed)']);
    expect(h.take(carol)).toEqual([]);
  });

  it('says nothing to the room on shutdown', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.leave(alice, { kind: 'shutdown' });
    expect(h.take(bob)).toEqual([]);
  });

  it('ignores a connection it does not know, and a second disconnect', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.leave(alice);
    h.delivery.forgetAll();
    h.leave(alice);
    h.leave({ pid: 1, fd: 1, address: '', port: 0, lastActive: 0 });
    expect(h.take(bob)).toEqual([]);
  });
});

describe('Chat#notice()', () => {
  it('sends "*** text" with CRLF to one connection', () => {
    const h = new Harness();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.chat.notice(alice, 'server going down');
    expect(h.take(alice)).toEqual(['*** server going down']);
    expect(h.take(bob)).toEqual([]);
  });
});

// --------------------------------------------------------------- cluster

/** A harness with a fake cluster; `srv2` (instance 'o2') is another server. */
function clustered(options: Partial<ChatOptions> = {}): { h: Harness; cluster: FakeCluster; remote: ClusterListener } {
  const cluster = new FakeCluster();
  const h = new Harness({ ...options, cluster });
  expect(cluster.listener).toBe(h.chat);
  return { h, cluster, remote: h.chat };
}

describe('Chat with a cluster: publishing', () => {
  it('names guests with the cluster-wide numbers', () => {
    const { h } = clustered();
    const a = h.connect();
    expect(h.take(a)[0]).toBe('*** Welcome to posix-chat, guest-101! You are in #lobby.');
  });

  it('skips a guest number a remote user has as its name', () => {
    const { h, remote } = clustered();
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'guest-101', room: '#lobby' }, false);
    const a = h.connect();
    expect(h.take(a)[0]).toBe('*** Welcome to posix-chat, guest-102! You are in #lobby.');
  });

  it('publishes join, line, /me, move and leave events, lines without stamps', () => {
    const { h, cluster } = clustered({ timestamps: true, now: () => new Date(2024, 0, 1, 8, 0) });
    const a = h.connect();
    h.say(a, 'hi all');
    h.say(a, '/me waves');
    h.say(a, '/join #games');
    h.say(a, 'in games');
    h.leave(a, { kind: 'timeout' });
    expect(cluster.published).toEqual([
      { k: 'join', nick: 'guest-101', room: '#lobby' },
      { k: 'line', room: '#lobby', nick: 'guest-101', text: 'hi all', me: false },
      { k: 'line', room: '#lobby', nick: 'guest-101', text: 'waves', me: true },
      { k: 'move', nick: 'guest-101', from: '#lobby', to: '#games' },
      { k: 'line', room: '#games', nick: 'guest-101', text: 'in games', me: false },
      { k: 'leave', nick: 'guest-101', room: '#games', why: 'timed out' },
    ]);
  });

  it('publishes no leave on shutdown', () => {
    const { h, cluster } = clustered();
    const a = h.join();
    h.leave(a, { kind: 'shutdown' });
    expect(cluster.published.map((ev) => ev.k)).toEqual(['join']);
  });

  it('publishes nothing for refused commands and private lines between locals', () => {
    const { h, cluster } = clustered();
    const a = h.join();
    const b = h.join();
    cluster.published.length = 0;
    h.say(a, '/nick 1bad');
    h.say(a, '/join #');
    h.say(a, '/msg guest-102 hi');
    h.say(b, '/who');
    expect(cluster.published).toEqual([]);
  });

  it('reports who is here through localUsers, once announced', () => {
    const { h, cluster } = clustered();
    h.join();
    const b = h.connect();
    h.connect();
    h.say(b, '/join #games');
    expect(cluster.localUsers()).toEqual([
      ['guest-101', '#lobby'],
      ['guest-102', '#games'],
    ]);
  });

  it('publishes nothing about a newcomer that leaves before it is announced', () => {
    const { h, cluster } = clustered();
    const a = h.connect();
    h.leave(a);
    expect(cluster.published).toEqual([]);
  });
});

describe('Chat with a cluster: /nick claims', () => {
  it('announces a newcomer whose first command is /nick once the cluster has answered, under the name it got', () => {
    const { h, cluster, remote } = clustered();
    const a = h.join();
    cluster.published.length = 0;
    const b = h.connect();
    h.say(b, '/nick bob');
    expect(h.take(a)).toEqual([]);
    expect(cluster.published).toEqual([]);
    remote.onClaimed('bob', true);
    expect(h.take(a)).toEqual(['*** bob joined #lobby']);
    expect(cluster.published).toEqual([{ k: 'join', nick: 'bob', room: '#lobby' }]);
  });

  it('holds /nick until the claim is granted, then renames and publishes it', () => {
    const { h, cluster, remote } = clustered();
    const a = h.join();
    const b = h.join();
    cluster.published.length = 0;
    h.say(a, '/nick alice');
    expect(cluster.claims).toEqual(['alice']);
    expect(h.take(a)).toEqual([]);
    expect(h.take(b)).toEqual([]);
    h.say(a, 'before');
    expect(h.take(b)).toEqual(['<guest-101> before']);
    cluster.published.length = 0;
    remote.onClaimed('alice', true);
    expect(h.take(a)).toEqual(['*** You are now known as alice.']);
    expect(h.take(b)).toEqual(['*** guest-101 is now known as alice']);
    expect(cluster.published).toEqual([{ k: 'rename', old: 'guest-101', nick: 'alice', room: '#lobby' }]);
  });

  it('tells the sender the name is taken when the claim is refused', () => {
    const { h, cluster, remote } = clustered();
    const a = h.join();
    const b = h.join();
    h.say(a, '/nick alice');
    cluster.published.length = 0;
    remote.onClaimed('alice', false);
    expect(h.take(a)).toEqual(['*** The name alice is taken. Try another.']);
    expect(h.take(b)).toEqual([]);
    expect(cluster.published).toEqual([]);
    // Refused, the name is no longer pending: asking again claims again.
    h.say(a, '/nick alice');
    expect(cluster.claims).toEqual(['alice', 'alice']);
  });

  it('treats a name being claimed as taken for everyone else', () => {
    const { h, cluster } = clustered();
    const a = h.join();
    const b = h.join();
    h.say(a, '/nick alice');
    h.say(b, '/nick Alice');
    expect(h.take(b)).toEqual(['*** The name Alice is taken. Try another.']);
    expect(cluster.claims).toEqual(['alice']);
  });

  it('treats a remote user\'s name as taken without claiming', () => {
    const { h, cluster, remote } = clustered();
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'Bob', room: '#lobby' }, false);
    const a = h.join();
    h.say(a, '/nick bob');
    expect(h.take(a)).toEqual(['*** The name bob is taken. Try another.']);
    expect(cluster.claims).toEqual([]);
  });

  it('renames without a claim when only the case of the own name changes', () => {
    const { h, cluster, remote } = clustered();
    const a = h.join();
    h.say(a, '/nick alice');
    remote.onClaimed('alice', true);
    h.delivery.forgetAll();
    h.say(a, '/nick ALICE');
    expect(h.take(a)).toEqual(['*** You are now known as ALICE.']);
    expect(cluster.claims).toEqual(['alice']);
  });

  it('releases a granted name whose claimant left meanwhile', () => {
    const { h, cluster, remote } = clustered();
    const a = h.join();
    const b = h.join();
    h.say(a, '/nick alice');
    h.leave(a);
    h.delivery.forgetAll();
    remote.onClaimed('alice', true);
    expect(cluster.releases).toEqual(['alice']);
    expect(h.take(b)).toEqual([]);
  });

  it('does not rename a newcomer whose child has the pid of a claimant who left', () => {
    const { h, cluster, remote } = clustered();
    const a = h.join();
    h.say(a, '/nick alice');
    h.leave(a);
    // Pids are reused: the next client's child may get the one the claimant's had.
    const newcomer: Connection = { ...a, lastActive: Date.now() };
    h.delivery.connections.set(newcomer.pid, newcomer);
    h.chat.onConnect(newcomer);
    h.delivery.forgetAll();
    remote.onClaimed('alice', true);
    expect(cluster.releases).toEqual(['alice']);
    expect(h.take(newcomer)).toEqual([]);
    h.say(newcomer, '/who');
    expect(h.take(newcomer).join('\n')).not.toContain('alice');
  });

  it('releases nothing for a refused claim whose claimant left', () => {
    const { h, cluster, remote } = clustered();
    const a = h.join();
    h.say(a, '/nick alice');
    h.leave(a);
    remote.onClaimed('alice', false);
    expect(cluster.releases).toEqual([]);
  });
});

describe('Chat with a cluster: events from other servers', () => {
  it('announces a remote join to that room only, and lists the remote user', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(bob, '/join #games');
    h.delivery.forgetAll();
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    expect(h.take(alice)).toEqual(['*** zoe joined #lobby']);
    expect(h.take(bob)).toEqual([]);
    h.say(alice, '/who');
    expect(h.take(alice)).toEqual(['*** 2 people in #lobby:', row('alice', ' idle 0s (you)'), row('zoe', ' on srv2 idle 0s')]);
    h.say(bob, '/who *');
    expect(h.take(bob).filter((line) => line.includes('zoe'))).toEqual([row('zoe', ' #lobby on srv2 idle 0s')]);
    h.say(bob, '/rooms');
    expect(h.take(bob)).toEqual(['*** Rooms: #games (1), #lobby (2)']);
  });

  it('counts a remote user\'s idle time from the last line or /msg this server saw from them', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const t0 = new Date(2024, 5, 1, 12, 0, 0).getTime();
      vi.setSystemTime(t0);
      const { h, remote } = clustered();
      const alice = h.person('alice');
      remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
      vi.setSystemTime(t0 + 125_000);
      h.delivery.forgetAll();
      h.say(alice, '/who');
      expect(h.take(alice)).toContain(row('zoe', ' on srv2 idle 2m'));
      remote.onRemoteEvent('o2', 'srv2', { k: 'line', nick: 'zoe', room: '#lobby', text: 'hi', me: false }, false);
      vi.setSystemTime(t0 + 130_000);
      h.delivery.forgetAll();
      h.say(alice, '/who *');
      expect(h.take(alice)).toContain(row('zoe', ' #lobby on srv2 idle 5s'));
      // A line from someone else of that server, or one replayed from history, does not count.
      remote.onRemoteEvent('o3', 'srv3', { k: 'line', nick: 'zoe', room: '#lobby', text: 'forged', me: false }, false);
      remote.onRemoteEvent('o2', 'srv2', { k: 'line', nick: 'zoe', room: '#lobby', text: 'old', me: false }, true);
      vi.setSystemTime(t0 + 190_000);
      h.delivery.forgetAll();
      h.say(alice, '/who');
      expect(h.take(alice)).toContain(row('zoe', ' on srv2 idle 1m'));
      remote.onRemoteEvent('o2', 'srv2', { k: 'msg', from: 'zoe', to: 'alice', text: 'psst' }, false);
      vi.setSystemTime(t0 + 191_000);
      h.delivery.forgetAll();
      h.say(alice, '/who');
      expect(h.take(alice)).toContain(row('zoe', ' on srv2 idle 1s'));
    } finally {
      vi.useRealTimers();
    }
  });

  it('names remote users to a newcomer', () => {
    const { h, remote } = clustered();
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    const a = h.connect();
    expect(h.take(a)[1]).toBe('*** Here with you: zoe.');
  });

  it('shows a remote line to that room, stamped with the local clock, and keeps it in history', () => {
    const { h, remote } = clustered({ timestamps: true, historyLines: 5, now: () => new Date(2024, 0, 1, 7, 3) });
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(bob, '/join #games');
    h.delivery.forgetAll();
    remote.onRemoteEvent('o2', 'srv2', { k: 'line', room: '#lobby', nick: 'zoe', text: 'hello', me: false }, false);
    expect(h.take(alice)).toEqual(['[07:03] <zoe> hello']);
    expect(h.take(bob)).toEqual([]);
    const c = h.connect();
    expect(h.take(c).slice(-2)).toEqual(['*** Last 1 line in #lobby:', '[07:03] <zoe> hello']);
  });

  it('keeps an old remote line for history but shows it to nobody', () => {
    const { h, remote } = clustered({ historyLines: 5 });
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'line', room: '#lobby', nick: 'zoe', text: 'long ago', me: false }, true);
    expect(h.take(alice)).toEqual([]);
    const c = h.connect();
    expect(h.take(c).slice(-2)).toEqual(['*** Last 1 line in #lobby:', '<zoe> long ago']);
  });

  it('announces a remote leave with its reason and forgets the user', () => {
    const { h, cluster, remote } = clustered();
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    h.delivery.forgetAll();
    remote.onRemoteEvent('o2', 'srv2', { k: 'leave', nick: 'zoe', room: '#lobby', why: 'quit: bye' }, false);
    expect(h.take(alice)).toEqual(['*** zoe left (quit: bye)']);
    h.say(alice, '/who');
    expect(h.take(alice)[0]).toBe('*** 1 person in #lobby:');
    h.say(alice, '/nick zoe');
    expect(h.take(alice)).toEqual([]); // free again: claimed, not refused
    expect(cluster.claims).toContain('zoe');
  });

  it('announces a remote move in both rooms and a remote rename', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(bob, '/join #games');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    h.delivery.forgetAll();
    remote.onRemoteEvent('o2', 'srv2', { k: 'move', nick: 'zoe', from: '#lobby', to: '#games' }, false);
    expect(h.take(alice)).toEqual(['*** zoe left for #games']);
    expect(h.take(bob)).toEqual(['*** zoe joined #games']);
    remote.onRemoteEvent('o2', 'srv2', { k: 'rename', old: 'zoe', nick: 'zed', room: '#games' }, false);
    expect(h.take(bob)).toEqual(['*** zoe is now known as zed']);
    expect(h.take(alice)).toEqual([]);
    h.say(alice, '/who *');
    expect(h.take(alice).filter((line) => line.includes(' on srv'))).toEqual([row('zed', ' #games on srv2 idle 0s')]);
  });

  it('delivers a remote private message to its local target only', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    const bob = h.person('bob');
    remote.onRemoteEvent('o2', 'srv2', { k: 'msg', from: 'zoe', to: 'ALICE', text: 'psst' }, false);
    expect(h.take(alice)).toEqual(['*zoe* psst']);
    expect(h.take(bob)).toEqual([]);
    remote.onRemoteEvent('o2', 'srv2', { k: 'msg', from: 'zoe', to: 'nobody', text: 'lost' }, false);
    expect(h.take(alice)).toEqual([]);
    expect(h.take(bob)).toEqual([]);
  });

  it('sends /msg to a remote user through the cluster', () => {
    const { h, cluster, remote } = clustered();
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'Zoe', room: '#games' }, false);
    cluster.published.length = 0;
    h.say(alice, '/msg zoe hi there');
    expect(cluster.published).toEqual([{ k: 'msg', from: 'alice', to: 'Zoe', text: 'hi there' }]);
    expect(cluster.targets.at(-1)).toBe('o2'); // for Zoe's server only
    expect(h.take(alice)).toEqual(['-> *Zoe* hi there']);
  });

  it('renames a local user whose name another server took meanwhile, with a notice, and publishes it', () => {
    const { h, cluster, remote } = clustered();
    const alice = h.person('alice');
    const bob = h.person('bob');
    remote.onRemoteEvent('o2', 'srv2', { k: 'rename', old: 'guest-7', nick: 'alice', room: '#lobby' }, false);
    h.delivery.forgetAll();
    cluster.published.length = 0;
    remote.onNickLost('alice');
    const told = h.take(alice);
    expect(told[0]).toMatch(/^\*\*\* While this server was cut off from the others, someone on another server took the name alice/);
    expect(told[1]).toMatch(/^\*\*\* You are now known as guest-\d+\.$/);
    expect(h.take(bob)).toEqual([expect.stringMatching(/^\*\*\* alice is now known as guest-\d+$/)]);
    expect(cluster.published).toEqual([expect.objectContaining({ k: 'rename', old: 'alice' })]);
    remote.onNickLost('nobody'); // renamed or gone meanwhile: nothing happens
    expect(h.take(bob)).toEqual([]);
  });

  it('says whose a name was when another server renames a user whose old name someone here has', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'rename', old: 'alice', nick: 'guest-9', room: '#lobby' }, false);
    expect(h.take(alice)).toEqual(['*** alice on srv2 is now known as guest-9']);
  });

  it('lets a server take only its own users off the list', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    remote.onRemoteEvent('o3', 'srv3', { k: 'leave', nick: 'zoe', room: '#lobby', why: 'quit' }, false);
    h.delivery.forgetAll();
    h.say(alice, '/who');
    expect(h.take(alice)).toContain(row('zoe', ' on srv2 idle 0s'));
  });

  it('drops the users of a server that stopped, with a notice to their rooms', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    const bob = h.person('bob');
    h.say(bob, '/join #games');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zed', room: '#games' }, false);
    remote.onRemoteEvent('o3', 'srv3', { k: 'join', nick: 'yan', room: '#lobby' }, false);
    h.delivery.forgetAll();
    remote.onRemoteEvent('o2', 'srv2', { k: 'down' }, false);
    expect(h.take(alice)).toEqual(['*** zoe left (server srv2 stopped)']);
    expect(h.take(bob)).toEqual(['*** zed left (server srv2 stopped)']);
    h.say(alice, '/who *');
    expect(h.take(alice).filter((line) => line.includes(' on srv'))).toEqual([row('yan', ' #lobby on srv3 idle 0s')]);
  });

  it('drops the users of a server that vanished, with a notice to their rooms', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    remote.onRemoteEvent('o3', 'srv3', { k: 'join', nick: 'yan', room: '#lobby' }, false);
    h.delivery.forgetAll();
    remote.onServerGone('o2');
    expect(h.take(alice)).toEqual(['*** zoe left (lost with srv2)']);
    h.say(alice, '/who');
    expect(h.take(alice)).toEqual(['*** 2 people in #lobby:', row('alice', ' idle 0s (you)'), row('yan', ' on srv3 idle 0s')]);
    remote.onServerGone('o9');
    expect(h.take(alice)).toEqual([]);
  });

  it('replaces a server\'s users silently on "here"', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    remote.onRemoteEvent('o3', 'srv3', { k: 'join', nick: 'yan', room: '#lobby' }, false);
    h.delivery.forgetAll();
    remote.onRemoteEvent('o2', 'srv2', { k: 'here', users: [['kim', '#lobby']] }, false);
    expect(h.take(alice)).toEqual([]);
    h.say(alice, '/who *');
    expect(h.take(alice).filter((line) => line.includes(' on srv'))).toEqual([row('kim', ' #lobby on srv2 idle 0s'), row('yan', ' #lobby on srv3 idle 0s')]);
  });

  it('names this server in /who * beside its own people too, as it does for the others', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    h.delivery.forgetAll();
    h.say(alice, '/who *');
    const rows = h.take(alice);
    expect(rows).toContain(row('alice', ' #lobby on here idle 0s (you)'));
    expect(rows).toContain(row('zoe', ' #lobby on srv2 idle 0s'));
  });

  it('forgets every remote user on a presence reset', () => {
    const { h, remote } = clustered();
    const alice = h.person('alice');
    remote.onRemoteEvent('o2', 'srv2', { k: 'join', nick: 'zoe', room: '#lobby' }, false);
    remote.onPresence(true, 'o3', 'srv3', [['yan', '#games']]);
    h.delivery.forgetAll();
    h.say(alice, '/who *');
    expect(h.take(alice).filter((line) => line.includes(' on srv'))).toEqual([row('yan', ' #games on srv3 idle 0s')]);
    remote.onPresence(false, 'o2', 'srv2', [['zoe', '#lobby']]);
    h.say(alice, '/who *');
    expect(h.take(alice)[0]).toBe('*** 3 people online:');
  });
});
