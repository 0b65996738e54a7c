import { describe, expect, it } from 'vitest';
import { chunks, fitEvent, MAX_EVENT_JSON_BYTES, type ChatEvent } from '../src/cluster/protocol.js';
import { parseChatEvent, readEntry } from '../src/cluster/redis-input.js';
import { hasPassword, redactUrl } from '../src/cluster/redis-url.js';

const ESC = '\u001b';
const O = '0123456789ab';
/** A stream entry's fields, as XREAD gives them. */
const fields = (entry: Record<string, string>): string[] => Object.entries(entry).flat();

describe('cluster protocol', () => {
  it('accepts every kind of event a server publishes', () => {
    const events: ChatEvent[] = [
      { k: 'line', room: '#lobby', nick: 'bob', text: 'hi', me: false },
      { k: 'line', room: '#lobby', nick: 'bob', text: 'waves 👋🏽', me: true },
      { k: 'join', nick: 'bob', room: '#lobby' },
      { k: 'move', nick: 'bob', from: '#lobby', to: '#games' },
      { k: 'rename', old: 'guest-3', nick: 'bob', room: '#lobby' },
      { k: 'leave', nick: 'bob', room: '#lobby', why: 'quit' },
      { k: 'msg', from: 'bob', to: 'alice', text: 'psst' },
      { k: 'here', users: [['bob', '#lobby']] },
      { k: 'down' },
    ];
    for (const ev of events) expect(parseChatEvent(JSON.stringify(ev))).toEqual(ev);
  });

  it('refuses what another writer to Redis might put in the stream', () => {
    for (const json of [
      'not json',
      'null',
      '42',
      '{"k":"line","room":"#lobby"}',
      '{"k":"line","room":"#lobby","nick":"bob","text":7,"me":false}',
      '{"k":"unknown"}',
      '{"k":"here","users":[["bob"]]}',
      JSON.stringify({ k: 'line', room: '#lobby', nick: 'bob', text: `${ESC}[2Jcleared your screen`, me: false }),
      JSON.stringify({ k: 'line', room: '#lobby', nick: 'bob', text: 'fine', me: 'yes' }),
      JSON.stringify({ k: 'line', room: '#lobby', nick: '<alice>', text: 'I speak as anyone', me: false }),
      JSON.stringify({ k: 'line', room: 'lobby', nick: 'bob', text: 'no #', me: false }),
      JSON.stringify({ k: 'msg', from: 'bob', to: 'alice', text: 'right\u202eto left' }),
      JSON.stringify({ k: 'join', nick: `mallory${ESC}]0;owned\u0007`, room: '#lobby' }),
      JSON.stringify({ k: 'join', nick: 'a'.repeat(17), room: '#lobby' }),
      JSON.stringify({ k: 'move', nick: 'bob', from: '#lobby', to: `#${'r'.repeat(25)}` }),
      JSON.stringify({ k: 'leave', nick: 'bob', room: '#lobby', why: 'x'.repeat(300) }),
      JSON.stringify({ k: 'here', users: [['bob', `#lobby${ESC}[2J`]] }),
      JSON.stringify({ k: 'here', users: Array.from({ length: 41 }, (_, i) => [`u${i}`, '#lobby']) }),
    ]) {
      expect(parseChatEvent(json)).toBeNull();
    }
  });

  it('keeps only the fields it knows from an event', () => {
    const json = JSON.stringify({ k: 'join', nick: 'bob', room: '#lobby', extra: `${ESC}[2J` });
    expect(parseChatEvent(json)).toEqual({ k: 'join', nick: 'bob', room: '#lobby' });
  });

  it("checks a stream entry's origin, server name and sequence number, and where a private message may come from", () => {
    const join = JSON.stringify({ k: 'join', nick: 'bob', room: '#lobby' });
    const msg = JSON.stringify({ k: 'msg', from: 'bob', to: 'alice', text: 'psst' });
    expect(readEntry(fields({ o: O, srv: 'beta', s: '7', e: join }), 'stream')).toEqual({ o: O, srv: 'beta', s: 7, ev: { k: 'join', nick: 'bob', room: '#lobby' } });
    expect(readEntry(fields({ o: O, srv: `${ESC}]0;owned\u0007${ESC}[2J`, s: '1', e: join }), 'stream')).toBe('srv is not a server name');
    expect(readEntry(fields({ o: O, srv: 'has space', s: '1', e: join }), 'stream')).toBe('srv is not a server name');
    expect(readEntry(fields({ o: 'evil', srv: 'beta', s: '1', e: join }), 'stream')).toBe('o is not an instance id');
    expect(readEntry(fields({ o: O, srv: 'beta', s: '99999999999999999999', e: join }), 'stream')).toBe('s is not a sequence number');
    expect(readEntry(fields({ o: O, srv: 'beta', s: '-1', e: join }), 'stream')).toBe('s is not a sequence number');
    expect(readEntry(fields({ o: O, srv: 'beta', s: '1', e: msg }), 'stream')).toBe('a private message in the shared stream');
    expect(readEntry(fields({ o: O, srv: 'beta', s: '1', e: join }), 'inbox')).toBe('not a private message in an inbox');
    expect(readEntry(fields({ o: O, srv: 'beta', s: '1', e: msg }), 'inbox')).toMatchObject({ ev: { k: 'msg' } });
    expect(readEntry(fields({ o: O, srv: 'beta', s: '1', e: 'x'.repeat(MAX_EVENT_JSON_BYTES + 1) }), 'stream')).toBe('e is too long');
  });

  it('shortens a line whose JSON would not fit in one record, and leaves others alone', () => {
    const small: ChatEvent = { k: 'line', room: '#lobby', nick: 'bob', text: 'hi', me: false };
    expect(fitEvent(small)).toBe(small);
    const quotes = '"'.repeat(4000); // each becomes \" in JSON: 8000 bytes
    const fitted = fitEvent({ k: 'line', room: '#lobby', nick: 'bob', text: quotes, me: false });
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(MAX_EVENT_JSON_BYTES);
    expect(fitted.k === 'line' && quotes.startsWith(fitted.text) && fitted.text.length > 1000).toBe(true);
  });

  it('cuts lists into chunks, with one empty chunk for an empty list', () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunks([], 2)).toEqual([[]]);
  });
});

describe('Redis URLs in messages', () => {
  it('hides the password, and only the password', () => {
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactUrl('redis://:s3cret@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379');
    expect(redactUrl('rediss://chat:s3cret@redis.example:6380/2')).toBe('rediss://chat:***@redis.example:6380/2');
    expect(redactUrl('not a url :s3cret@ //x:s3cret@host')).not.toContain('s3cret');
    expect(hasPassword('redis://chat:s3cret@host')).toBe(true);
    expect(hasPassword('redis://chat@host')).toBe(false);
    expect(hasPassword('redis://host:6379')).toBe(false);
  });
});
