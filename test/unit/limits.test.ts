import { describe, expect, it } from 'vitest';
import { LIST_BUDGET_ROWS, LIST_REFILL_ROWS_PER_SECOND, ListBudget, MAX_LISTED_ROWS } from '../../src/chat/budget.js';
import { roomsLine, whoLines } from '../../src/chat/listings.js';
import { addressGroup, compressIpv6, expandIpv6 } from '../../src/protocol/address.js';

describe('addressGroup()', () => {
  it('keeps an IPv4 address as it is, and an IPv4 client on a dual-stack socket as IPv4', () => {
    expect(addressGroup('203.0.113.9', 64)).toBe('203.0.113.9');
    expect(addressGroup('::ffff:203.0.113.9', 64)).toBe('203.0.113.9');
  });

  it('counts every address of one IPv6 /64 as one', () => {
    const a = addressGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64);
    const b = addressGroup('2001:db8:1:2::1', 64);
    expect(a).toBe('2001:db8:1:2::/64');
    expect(b).toBe(a);
    expect(addressGroup('2001:db8:1:3::1', 64)).not.toBe(a);
  });

  it('cuts at any prefix length, inside a group too', () => {
    expect(addressGroup('2001:db8:abcd:12ff::1', 56)).toBe('2001:db8:abcd:1200::/56');
    expect(addressGroup('2001:db8:abcd:12ff::1', 48)).toBe('2001:db8:abcd::/48');
    expect(addressGroup('2001:db8::1', 128)).toBe('2001:db8::1');
    expect(addressGroup('::1', 64)).toBe('::/64');
  });

  it('parses and prints IPv6 as RFC 5952 does, and refuses what is not IPv6', () => {
    expect(expandIpv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(expandIpv6('fe80::1%eth0')).toEqual([0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    expect(expandIpv6('1:2:3:4:5:6:7:8:9')).toBeNull();
    expect(expandIpv6('1::2::3')).toBeNull();
    expect(expandIpv6('12345::')).toBeNull();
    expect(compressIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])).toBe('2001:db8::1:0:0:1');
    expect(compressIpv6([1, 0, 2, 0, 3, 0, 4, 0])).toBe('1:0:2:0:3:0:4:0');
  });
});

describe('ListBudget#take()', () => {
  it('lets a person list a big server a few times at once, then asks them to wait, then lets them again', () => {
    const budget = new ListBudget(0);
    const rows = 2_000;
    let granted = 0;
    while (budget.take(rows, 0) === 0) granted++;
    expect(granted).toBe(Math.floor(LIST_BUDGET_ROWS / rows));
    const wait = budget.take(rows, 0);
    expect(wait).toBeGreaterThan(0);
    expect(budget.take(rows, wait * 1000)).toBe(0);
  });

  it('never grows past its size, and a small listing costs one row', () => {
    const budget = new ListBudget(0);
    expect(budget.take(LIST_BUDGET_ROWS, 3_600_000)).toBe(0);
    expect(budget.take(1, 3_600_000)).toBe(Math.ceil(1 / LIST_REFILL_ROWS_PER_SECOND)); // spent: a second to wait
    for (let i = 0; i < 10; i++) expect(budget.take(0, 3_600_000 + 10_000 + i)).toBe(0);
  });
});

describe('whoLines() and roomsLine()', () => {
  it('lists at most MAX_LISTED_ROWS people, sorted, and counts the rest', () => {
    const rows = Array.from({ length: MAX_LISTED_ROWS + 25 }, (_, i) => ({ nick: `p${String(i).padStart(4, '0')}`, text: ' idle 0s' }));
    const lines = whoLines(rows.reverse(), 'online');
    expect(lines[0]).toBe(`${MAX_LISTED_ROWS + 25} people online:`);
    expect(lines).toHaveLength(1 + MAX_LISTED_ROWS + 1);
    expect(lines[1]).toMatch(/^ {2}p0000 /);
    expect(lines.at(-1)).toBe('  ... and 25 more');
    expect(whoLines([{ nick: 'a', text: '' }], 'in #x')).toEqual(['1 person in #x:', '  a               ']);
  });

  it('names at most MAX_LISTED_ROWS rooms, sorted, and counts the rest', () => {
    expect(roomsLine(new Map([['#b', 1], ['#a', 2]]))).toBe('Rooms: #a (2), #b (1)');
    const many = new Map(Array.from({ length: MAX_LISTED_ROWS + 3 }, (_, i) => [`#r${String(i).padStart(4, '0')}`, 1] as [string, number]));
    expect(roomsLine(many)).toMatch(/^Rooms: #r0000 \(1\), .* and 3 more$/);
  });
});
