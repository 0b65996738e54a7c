import { describe, expect, it } from 'vitest';
import type { Accepted } from '../../src/parent/socket-server.js';
import { WaitingClients } from '../../src/parent/waiting.js';

const PROXY = '192.0.2.1';

function client(address: string, fd: number): Accepted {
  return { fd, address, family: 'IPv4', port: 40000 + fd, framing: 'telnet' };
}

/** A queue that groups by address, as the per-address limit does, and counts no trusted proxy. */
function queue(): WaitingClients {
  return new WaitingClients((c) => (c.address === PROXY ? null : c.address));
}

describe('WaitingClients', () => {
  it('keeps clients oldest first and counts each address as they come and go', () => {
    const waiting = queue();
    waiting.push(client('127.0.0.1', 10));
    waiting.push(client('127.0.0.2', 11));
    waiting.push(client('127.0.0.1', 12));
    expect(waiting.length).toBe(3);
    expect(waiting.from('127.0.0.1')).toBe(2);
    expect(waiting.from('127.0.0.2')).toBe(1);
    expect(waiting.from('127.0.0.3')).toBe(0);
    expect(waiting.first()?.fd).toBe(10);
    expect(waiting.shift()?.fd).toBe(10);
    expect(waiting.from('127.0.0.1')).toBe(1);
    expect([...waiting].map((c) => c.fd)).toEqual([11, 12]);
  });

  it('counts no trusted proxy against an address', () => {
    const waiting = queue();
    waiting.push(client(PROXY, 10));
    waiting.push(client(PROXY, 11));
    expect(waiting.length).toBe(2);
    expect(waiting.from(PROXY)).toBe(0);
    waiting.shift();
    expect(waiting.from(PROXY)).toBe(0);
  });

  it('forgets every count when emptied at once, and an empty queue shifts nothing', () => {
    const waiting = queue();
    waiting.push(client('127.0.0.1', 10));
    waiting.push(client('127.0.0.1', 11));
    expect(waiting.takeAll().map((c) => c.fd)).toEqual([10, 11]);
    expect(waiting.length).toBe(0);
    expect(waiting.from('127.0.0.1')).toBe(0);
    expect(waiting.shift()).toBeUndefined();
    waiting.push(client('127.0.0.1', 12));
    expect(waiting.from('127.0.0.1')).toBe(1);
  });
});
