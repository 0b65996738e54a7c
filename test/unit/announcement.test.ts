/**
 * The server's lines to a room (joined, left, renamed) start with ANNOUNCEMENT_PREFIX,
 * which no line a user sends can start with: `/me left (quit: bye)` must never look
 * like a departure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Chat } from '../../src/chat/chat.js';
import { ANNOUNCEMENT_PREFIX } from '../../src/chat/rules.js';
import type { Connection, Delivery, DisconnectReason, RoomGroup } from '../../src/contracts.js';

/** A delivery that keeps, per connection, the lines it was sent. */
class Lines implements Delivery {
  readonly connections = new Map<number, Connection>();
  readonly got = new Map<number, string[]>();
  send(connection: Connection, data: Buffer): void {
    const lines = this.got.get(connection.pid) ?? [];
    lines.push(...data.toString('utf8').split('\r\n').slice(0, -1));
    this.got.set(connection.pid, lines);
  }
  sendTelnet(connection: Connection, command: Buffer): void {
    this.send(connection, command);
  }
  broadcast(data: Buffer, except?: Connection): void {
    for (const c of this.connections.values()) if (c !== except) this.send(c, data);
  }
  group(): RoomGroup {
    const members = new Set<Connection>();
    return {
      add: (c) => members.add(c),
      remove: (c) => members.delete(c),
      send: (data, except) => {
        for (const c of members) if (c !== except) this.send(c, data);
      },
    };
  }
  canTake(): boolean {
    return true;
  }
  readonly kicks: DisconnectReason[] = [];
  disconnect(_connection: Connection, reason: DisconnectReason): void {
    this.kicks.push(reason);
  }
  take(connection: Connection): string[] {
    const lines = this.got.get(connection.pid) ?? [];
    this.got.delete(connection.pid);
    return lines;
  }
}

function room(timestamps: boolean): { chat: Chat; delivery: Lines; join: (nick: string) => Connection } {
  const delivery = new Lines();
  const chat = new Chat({ historyLines: 0, timestamps, motd: [], maxLineBytes: 400, now: () => new Date(2026, 0, 1, 9, 5) });
  chat.attach(delivery);
  let pid = 100;
  const join = (nick: string): Connection => {
    const connection: Connection = { pid: ++pid, fd: pid, address: '127.0.0.1', port: pid, lastActive: 0 };
    delivery.connections.set(connection.pid, connection);
    chat.onConnect(connection);
    chat.onLine(connection, Buffer.from(`/nick ${nick}`), false);
    return connection;
  };
  return { chat, delivery, join };
}

describe('announcements', () => {
  it('start with "*** ", after the timestamp', () => {
    const { chat, delivery, join } = room(true);
    const alice = join('alice');
    const bob = join('bob');
    delivery.take(alice);
    delivery.take(bob);
    chat.onLine(alice, Buffer.from('/me left (quit: bye)'), false);
    expect(delivery.take(bob)).toEqual(['[09:05] * alice left (quit: bye)']);
    chat.onDisconnect(alice, { kind: 'quit', detail: 'bye' });
    expect(delivery.take(bob)).toEqual(['[09:05] *** alice left (quit: bye)']);
    expect(ANNOUNCEMENT_PREFIX).toBe('*** ');
  });

  it('cannot be forged: no public line or /me action, of any text from any nick, starts with the prefix', () => {
    const nick = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,15}$/).filter((n) => !/^guest-\d+$/i.test(n));
    // What a line can hold once the child has cleaned it: no control characters, no line ends.
    const text = fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s));
    fc.assert(
      fc.property(nick, text, fc.boolean(), (name, said, timestamps) => {
        const { chat, delivery, join } = room(timestamps);
        const speaker = join(name);
        const listener = join(name.toLowerCase() === 'zed' ? 'zoe' : 'zed');
        delivery.take(speaker);
        delivery.take(listener);
        const line = said.startsWith('/') ? `/${said}` : said; // a line starting with / is sent as //
        chat.onLine(speaker, Buffer.from(line), false);
        chat.onLine(speaker, Buffer.from(`/me ${said}`), false);
        for (const got of delivery.take(listener)) expect(got.replace(/^\[\d\d:\d\d\] /, '').startsWith(ANNOUNCEMENT_PREFIX), got).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
