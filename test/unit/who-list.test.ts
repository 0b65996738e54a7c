/**
 * The page's list of who is here (src/web/page/who.js): what the chat's own lines say,
 * as a telnet user reads them.
 */
import { describe, expect, it } from 'vitest';
import { WhoList } from '../../src/web/page/who.js';

function listAfter(...lines: string[]): ReturnType<WhoList['list']> {
  const who = new WhoList();
  who.feed(lines.map((line) => `${line}\r\n`).join(''));
  return who.list();
}

const WELCOME = ['*** Welcome to posix-chat, guest-3! You are in #lobby.', '*** Here with you: bob, alice.'];

describe('WhoList', () => {
  it('starts from the welcome and its "Here with you"', () => {
    expect(listAfter(...WELCOME)).toEqual({ names: ['alice', 'bob', 'guest-3'], more: 0, me: 'guest-3', room: '#lobby' });
  });

  it('follows joins, departures and new names, stamped or not', () => {
    const list = listAfter(...WELCOME, '[12:00] *** carol joined #lobby', '*** bob left (quit: bye)', '[12:01] *** alice left for #games', '*** carol is now known as caro', '*** You are now known as me.');
    expect(list).toMatchObject({ names: ['caro', 'me'], me: 'me' });
  });

  it('is not fooled by what people type', () => {
    expect(listAfter(...WELCOME, '[12:00] <bob> *** mallory joined #lobby', '* bob left (quit)', '[12:00] *bob* x joined #lobby').names).toEqual(['alice', 'bob', 'guest-3']);
  });

  it('starts again in a new room', () => {
    expect(listAfter(...WELCOME, '*** You are now in #games. Here with you: dave.').names).toEqual(['dave', 'guest-3']);
    expect(listAfter(...WELCOME, '*** You are now in #games. Nobody else is here yet.')).toMatchObject({ names: ['guest-3'], room: '#games' });
  });

  it('says how many a long list left unnamed', () => {
    expect(listAfter('*** Welcome to posix-chat, me! You are in #lobby.', '*** Here with you: a, b and 30 more (/who lists everyone).')).toMatchObject({ names: ['a', 'b', 'me'], more: 30 });
  });

  it('takes the answer to /who as the whole list, and goes on after it', () => {
    const list = listAfter(...WELCOME, '*** 3 people in #lobby:', '***   guest-3         idle 0s (you)', '***   zed             idle 5m', '***   ... and 1 more', '*** yan joined #lobby');
    expect(list).toMatchObject({ names: ['guest-3', 'yan', 'zed'], more: 1 });
  });

  it('takes lines split anywhere', () => {
    const who = new WhoList();
    const text = `${WELCOME.join('\r\n')}\r\n`;
    for (const char of text) who.feed(char);
    expect(who.list().names).toEqual(['alice', 'bob', 'guest-3']);
  });
});
