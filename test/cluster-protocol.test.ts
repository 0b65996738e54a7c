import { describe, expect, it } from 'vitest';
import { chunks, fitEvent, MAX_EVENT_JSON_BYTES, parseChatEvent, type ChatEvent } from '../src/cluster/protocol.js';

describe('cluster protocol', () => {
  it('accepts every kind of event a server publishes', () => {
    const events: ChatEvent[] = [
      { k: 'line', room: '#lobby', body: '<bob> hi' },
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
      '{"k":"line","room":"#lobby","body":7}',
      '{"k":"unknown"}',
      '{"k":"here","users":[["bob"]]}',
      JSON.stringify({ k: 'line', room: '#lobby', body: '\u001b[2Jcleared your screen' }),
      JSON.stringify({ k: 'msg', from: 'bob', to: 'alice', text: 'right\u202eto left' }),
    ]) {
      expect(parseChatEvent(json)).toBeNull();
    }
  });

  it('shortens a line whose JSON would not fit in one record, and leaves others alone', () => {
    const small: ChatEvent = { k: 'line', room: '#lobby', body: 'hi' };
    expect(fitEvent(small)).toBe(small);
    const quotes = '"'.repeat(4000); // each becomes \" in JSON: 8000 bytes
    const fitted = fitEvent({ k: 'line', room: '#lobby', body: quotes });
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(MAX_EVENT_JSON_BYTES);
    expect(fitted.k === 'line' && quotes.startsWith(fitted.body) && fitted.body.length > 1000).toBe(true);
  });

  it('cuts lists into chunks, with one empty chunk for an empty list', () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunks([], 2)).toEqual([[]]);
  });
});
