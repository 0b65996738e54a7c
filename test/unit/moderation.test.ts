/** The pure parts of accounts and moderation: CIDR blocks, durations, the ban list, the login throttle, password hashes. */
import { describe, expect, it } from 'vitest';
import { BanList } from '../../src/chat/bans.js';
import { inBlock, parseBlock } from '../../src/chat/cidr.js';
import { describeUntil, looksLikeDuration, parseDuration } from '../../src/chat/duration.js';
import { checkPassword } from '../../src/chat/password.js';
import { FREE_FAILURES, LoginThrottle } from '../../src/chat/throttle.js';
import { hashPassword, verifyPassword } from '../../src/hasher/scrypt.js';
import type { Ban } from '../../src/store/store.js';

describe('parseBlock() and inBlock()', () => {
  it('reads IPv4 and IPv6 addresses and blocks, cut to their prefix', () => {
    expect(parseBlock('127.0.0.2')?.text).toBe('127.0.0.2');
    expect(parseBlock('10.1.2.3/8')?.text).toBe('10.0.0.0/8');
    expect(parseBlock('2001:DB8::1/32')?.text).toBe('2001:db8::/32');
    expect(parseBlock('::1')?.text).toBe('::1');
    for (const bad of ['alice', '256.0.0.1', '10.0.0.0/33', '::1/129', '1.2.3.4/8/8', '1.2.3']) expect(parseBlock(bad), bad).toBeNull();
  });

  it('matches client addresses, an IPv4 client on an IPv6 socket included', () => {
    const block = parseBlock('127.0.0.0/24');
    if (block === null) throw new Error('no block');
    expect(inBlock(block, '127.0.0.200')).toBe(true);
    expect(inBlock(block, '::ffff:127.0.0.9')).toBe(true);
    expect(inBlock(block, '127.0.1.1')).toBe(false);
    expect(inBlock(block, '::1')).toBe(false);
    const v6 = parseBlock('2001:db8::/32');
    if (v6 === null) throw new Error('no block');
    expect(inBlock(v6, '2001:db8:ffff::7')).toBe(true);
    expect(inBlock(v6, '2001:db9::7')).toBe(false);
  });
});

describe('parseDuration() and describeUntil()', () => {
  it('reads 30s, 30m, 2h, 7d, 2w and refuses the rest', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('2H')).toBe(7_200_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    for (const bad of ['', '0m', '5', 'm', '1y', '-1h', '9999999d', 'forever']) expect(parseDuration(bad), bad).toBeNull();
  });

  it('tells a mistyped duration from a word of a reason', () => {
    for (const typo of ['0m', '5y', '-5m', '+2h', '90']) expect(looksLikeDuration(typo), typo).toBe(true);
    for (const word of ['spam', '2nd', 'm5', 'two', '30 m', '']) expect(looksLikeDuration(word), word).toBe(false);
  });

  it('says how long is left', () => {
    expect(describeUntil(null, 0)).toBe('until lifted');
    expect(describeUntil(2_000, 0)).toBe('for 2s');
    expect(describeUntil(1_800_000, 0)).toBe('for 30m');
    expect(describeUntil(7_200_000, 0)).toBe('for 2h00m');
    expect(describeUntil(2 * 86_400_000, 0)).toBe('for 2d0h');
  });
});

describe('BanList', () => {
  const ban = (target: string, kind: Ban['kind'], until: number | null): Ban => ({ target, kind, until, by: 'op', reason: '', at: 0 });

  it('finds a ban by address or block and by name, until it expires', () => {
    const bans = new BanList();
    bans.load([ban('10.0.0.0/8', 'address', 1_000), ban('troll', 'name', null)]);
    expect(bans.ofAddress('10.9.9.9', 999)?.target).toBe('10.0.0.0/8');
    expect(bans.ofAddress('10.9.9.9', 1_000)).toBeNull();
    expect(bans.ofAddress('11.0.0.1', 0)).toBeNull();
    expect(bans.ofName('TROLL', 5_000)?.target).toBe('troll');
    expect(bans.ofAddress('troll', 0)).toBeNull();
    expect(bans.list(2_000).map((b) => b.target)).toEqual(['troll']);
    expect(bans.remove('troll')).toBe(true);
    expect(bans.ofName('troll', 0)).toBeNull();
  });
});

describe('LoginThrottle', () => {
  it('lets the first failures through, then makes the address wait longer each time, and forgets on success', () => {
    const throttle = new LoginThrottle();
    for (let i = 0; i < FREE_FAILURES; i++) throttle.failed('1.2.3.4', 0);
    expect(throttle.wait('1.2.3.4', 0)).toBe(0);
    throttle.failed('1.2.3.4', 0);
    const first = throttle.wait('1.2.3.4', 0);
    expect(first).toBeGreaterThan(0);
    throttle.failed('1.2.3.4', 0);
    expect(throttle.wait('1.2.3.4', 0)).toBeGreaterThan(first);
    expect(throttle.wait('5.6.7.8', 0)).toBe(0);
    expect(throttle.wait('1.2.3.4', 3_600_000)).toBe(0);
    throttle.succeeded('1.2.3.4');
    throttle.failed('1.2.3.4', 0);
    expect(throttle.wait('1.2.3.4', 0)).toBe(0);
  });
});

describe('password hashes', () => {
  it('verifies the right password only, salts each hash, and keeps its parameters with it', () => {
    const one = hashPassword('correct horse');
    const two = hashPassword('correct horse');
    expect(one).not.toBe(two);
    expect(one).not.toContain('correct');
    expect(one).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(verifyPassword('correct horse', one)).toBe(true);
    expect(verifyPassword('correct horsf', one)).toBe(false);
    expect(verifyPassword('correct horse', 'plain')).toBe(false);
    expect(verifyPassword('x', 'scrypt$1099511627776$8$1$c2FsdA==$a2V5')).toBe(false); // a cost that would take the loop down
  });

  it('wants at least 8 characters', () => {
    expect(checkPassword('short')).toMatch(/at least 8/);
    expect(checkPassword('long enough')).toBeNull();
  });
});
