/**
 * The shared data of a cluster (--redis) without Redis: what a server accepts of it
 * (src/cluster/shared-input.ts), and the store that keeps a synchronous copy of it
 * over SQLite while its writes wait for Redis (src/store/shared-store.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/hasher/scrypt.js';
import type { SharedWrite } from '../../src/cluster/protocol.js';
import { isPasswordHash, readNotice, readShared } from '../../src/cluster/shared-input.js';
import type { SharedDataSide } from '../../src/contracts.js';
import { SharedStore } from '../../src/store/shared-store.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Account, Ban, SharedItem } from '../../src/store/store.js';

const HASH = hashPassword('correct horse battery');
const account = (name: string, role = 'user', hash = HASH): string => JSON.stringify({ name, role, hash, created: 1 });
const ban = (target: string, kind: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ target, kind, until: null, by: 'boss', reason: 'spam', at: 1, ...extra });

describe('what a server accepts of the shared data', () => {
  it('takes accounts with a valid name, a known role and a hash it can afford to check', () => {
    expect(readShared('account', 'alice', account('Alice'))).toEqual({ c: 'account', name: 'Alice', account: { name: 'Alice', role: 'user', hash: HASH, created: 1 } });
    expect(readShared('account', 'alice', account('alice', 'root'))).toBe('a bad role for alice');
    expect(readShared('account', 'alice', account('bob'))).toBe('a bad name');
    expect(readShared('account', 'a b', account('a b'))).toBe('a bad name');
    expect(readShared('account', 'alice', account('alice', 'user', 'hunter2'))).toBe('a bad password hash for alice');
    expect(readShared('account', 'alice', 'not json')).toBe('not JSON');
    expect(readShared('account', 'alice', account('alice', 'operator', 'x'.repeat(3000)))).toBe('too big');
    expect(readShared('account', 'alice', null)).toEqual({ c: 'account', name: 'alice', account: null });
  });

  it('refuses password hashes whose cost would stall a login', () => {
    expect(isPasswordHash(HASH)).toBe(true);
    const [, , r, p, salt, key] = HASH.split('$');
    for (const n of ['1048576', '1000', '0']) expect(isPasswordHash(`scrypt$${n}$${r}$${p}$${salt}$${key}`), n).toBe(false);
    expect(isPasswordHash(`scrypt$16384$${r}$9$${salt}$${key}`)).toBe(false);
    expect(isPasswordHash(`scrypt$16384$64$${p}$${salt}$${key}`)).toBe(false);
    expect(isPasswordHash(`bcrypt$16384$${r}$${p}$${salt}$${key}`)).toBe(false);
    // The memory bound, as OpenSSL counts it: 2^15 with r 8 fits in 64 MiB, 2^16 with r 8 does not.
    expect(isPasswordHash(`scrypt$32768$8$1$${salt}$${key}`)).toBe(true);
    expect(isPasswordHash(`scrypt$65536$8$1$${salt}$${key}`)).toBe(false);
    expect(isPasswordHash(`scrypt$32768$16$1$${salt}$${key}`)).toBe(false);
  });

  it('takes bans on names and on addresses or blocks written as /ban writes them, nothing else', () => {
    expect(readShared('ban', '10.0.0.0/8', ban('10.0.0.0/8', 'address'))).toMatchObject({ c: 'ban', target: '10.0.0.0/8' });
    expect(readShared('ban', 'mallory', ban('mallory', 'name'))).toMatchObject({ c: 'ban', target: 'mallory' });
    expect(readShared('ban', '10.1.2.3/8', ban('10.1.2.3/8', 'address'))).toBe('a bad address or block');
    expect(readShared('ban', '999.1.1.1/99', ban('999.1.1.1/99', 'address'))).toBe('a bad address or block');
    expect(readShared('ban', '0.0.0.0/0', ban('0.0.0.0/0', 'name'))).toBe('a bad name');
    expect(readShared('ban', 'Mallory', ban('Mallory', 'name'))).toBe('a bad name');
    expect(readShared('ban', 'mallory', ban('mallory', 'name', { until: -5 }))).toBe('bad details for mallory');
    expect(readShared('ban', 'mallory', ban('mallory', 'name', { reason: '\x1b[2Jgotcha' }))).toBe('bad details for mallory');
    expect(readShared('ban', 'mallory', ban('eve', 'name'))).toBe('a target that is not its key');
  });

  it('takes mutes, ignores and topics under the same rules', () => {
    expect(readShared('mute', 'loud', JSON.stringify({ name: 'Loud', until: 5 }))).toEqual({ c: 'mute', name: 'Loud', mute: { name: 'Loud', until: 5 } });
    expect(readShared('mute', 'loud', JSON.stringify({ name: 'loud', until: 'soon' }))).toBe('a bad time for loud');
    expect(readShared('ignore', 'alice bob', '1')).toEqual({ c: 'ignore', name: 'alice', ignored: 'bob', on: true });
    expect(readShared('ignore', 'alice bob', null)).toEqual({ c: 'ignore', name: 'alice', ignored: 'bob', on: false });
    expect(readShared('ignore', 'alice bob carol', '1')).toBe('a bad pair of names');
    expect(readShared('topic', '#lobby', 'be kind')).toEqual({ c: 'topic', room: '#lobby', topic: 'be kind' });
    expect(readShared('topic', '#lobby', null)).toEqual({ c: 'topic', room: '#lobby', topic: '' });
    expect(readShared('topic', '#lobby', 'x'.repeat(201))).toBe('a bad topic for #lobby');
    expect(readShared('topic', '#lobby', 'hi\x07')).toBe('a bad topic for #lobby');
    expect(readShared('topic', 'lobby', 'hi')).toBe('a bad room');
  });

  it('reads change notices from a server instance or the CLI, of a known kind', () => {
    expect(readNotice(['o', '0123456789ab', 'c', 'ban', 'k', 'mallory'])).toEqual({ o: '0123456789ab', c: 'ban', k: 'mallory' });
    expect(readNotice(['o', 'cli', 'c', 'account', 'k', 'alice'])).toEqual({ o: 'cli', c: 'account', k: 'alice' });
    expect(readNotice(['o', 'nobody', 'c', 'account', 'k', 'alice'])).toBe('o is neither an instance id nor cli');
    expect(readNotice(['o', 'cli', 'c', 'audit', 'k', 'x'])).toBe('c is not a kind of shared data');
    expect(readNotice(['o', 'cli', 'c', 'ban', 'k', 'x'.repeat(101)])).toBe('k is not a field');
  });
});

describe('the shared store over its SQLite copy', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A shared store with a fake link that keeps what it was sent, and the log lines. */
  function make(open = true, maxUnwritten?: number): { store: SharedStore; side: SharedDataSide; sent: SharedWrite[]; logged: string[]; copy: SqliteStore } {
    const dir = mkdtempSync(path.join(tmpdir(), 'posix-chat-shared-'));
    dirs.push(dir);
    const sent: SharedWrite[] = [];
    const logged: string[] = [];
    const sides: SharedDataSide[] = [];
    const store = new SharedStore({ attachShared: (s) => sides.push(s), sendShared: (w) => sent.push(w) }, (_level, text) => logged.push(text), maxUnwritten);
    const copy = new SqliteStore(dir);
    if (open) store.attach(copy);
    const [side] = sides;
    if (side === undefined) throw new Error('the store did not attach to the link');
    return { store, side, sent, logged, copy };
  }

  const alice: Account = { name: 'alice', role: 'user', hash: HASH, created: 1 };
  const spam: Ban = { target: 'mallory', kind: 'name', until: null, by: 'boss', reason: '', at: 1 };

  it('applies a change at once and sends it to the link, until the link says Redis has it', () => {
    const { store, side, sent } = make();
    expect(store.addAccount('alice', HASH, 'user', 1)).toBe(true);
    store.addBan(spam);
    expect(sent.map((w) => w.item)).toEqual([{ c: 'account', name: 'alice', account: alice, create: true }, { c: 'ban', target: 'mallory', ban: spam }]);
    expect(store.account('ALICE')?.name).toBe('alice');
    expect(side.unwritten()).toHaveLength(2);
    side.fromLink({ t: 'written', seq: sent[0]?.seq ?? 0 });
    expect(side.unwritten().map((w) => w.item.c)).toEqual(['ban']);
  });

  it('sends a role or password change as that one field, for Redis to set in the account it has', () => {
    const { store, sent } = make();
    store.addAccount('alice', HASH, 'user', 1);
    store.setRole('alice', 'operator');
    store.setPassword('alice', 'new hash');
    expect(sent.slice(1).map((w) => w.item)).toEqual([
      { c: 'account', name: 'alice', account: { ...alice, role: 'operator' }, set: 'role' },
      { c: 'account', name: 'alice', account: { ...alice, role: 'operator', hash: 'new hash' }, set: 'hash' },
    ]);
  });

  it('tells the chat of an account replaced by another of the same name, made elsewhere', () => {
    const { store, side } = make();
    const replaced: string[] = [];
    store.onChange = (_items, _replace, names) => replaced.push(...names);
    store.addAccount('alice', HASH, 'user', 1);
    side.fromLink({ t: 'written', seq: 1 });
    side.fromLink({ t: 'changed', items: [{ c: 'account', name: 'alice', account: { ...alice, role: 'operator' } }] });
    expect(replaced).toEqual([]); // the same account, another role
    side.fromLink({ t: 'changed', items: [{ c: 'account', name: 'Alice', account: { ...alice, name: 'Alice', created: 2 } }] });
    expect(replaced).toEqual(['alice']);
    expect(store.account('alice')?.created).toBe(2);
    side.fromLink({ t: 'snapshot', items: [{ c: 'account', name: 'Alice', account: { ...alice, name: 'Alice', created: 3 } }], first: true, last: true });
    expect(replaced).toEqual(['alice', 'Alice']);
  });

  it('replaces its copy with a snapshot, keeping on top what Redis does not have yet', () => {
    const { store, side, logged } = make();
    store.setTopic('#lobby', 'mine, not yet in Redis');
    const bob: SharedItem = { c: 'account', name: 'bob', account: { name: 'bob', role: 'operator', hash: HASH, created: 2 } };
    side.fromLink({ t: 'snapshot', items: [bob], first: true, last: false });
    expect(store.account('bob')).toBeNull(); // not before the last piece
    side.fromLink({ t: 'snapshot', items: [{ c: 'topic', room: '#dev', topic: 'theirs' }], first: false, last: true });
    expect(store.account('bob')?.role).toBe('operator');
    expect(logged).toContain('bob is an operator, as the shared data in Redis says');
    expect(store.topics()).toEqual(new Map([['#dev', 'theirs'], ['#lobby', 'mine, not yet in Redis']]));
  });

  it('leaves a row it is still writing alone when another server changes it, and tells the chat of the rest', () => {
    const { store, side } = make();
    const told: SharedItem[] = [];
    store.onChange = (items) => told.push(...items);
    store.setTopic('#lobby', 'mine');
    side.fromLink({ t: 'changed', items: [{ c: 'topic', room: '#lobby', topic: 'older' }, { c: 'ban', target: 'mallory', ban: spam }] });
    expect(store.topics().get('#lobby')).toBe('mine');
    expect(store.bans(2).map((b) => b.target)).toEqual(['mallory']);
    expect(told).toEqual([{ c: 'ban', target: 'mallory', ban: spam }]);
  });

  it('sends what a lone server kept to Redis at its first snapshot, and is a copy after', () => {
    const { store, side, sent, copy } = make(false);
    copy.addAccount('veteran', HASH, 'operator', 1);
    copy.addBan(spam);
    copy.setTopic('#lobby', 'old news');
    side.fromLink({ t: 'snapshot', items: [{ c: 'topic', room: '#lobby', topic: 'cluster news' }], first: true, last: true });
    store.attach(copy);
    expect(sent.map((w) => w.item)).toEqual([
      { c: 'account', name: 'veteran', account: { name: 'veteran', role: 'operator', hash: HASH, created: 1 }, create: true },
      { c: 'ban', target: 'mallory', ban: spam },
    ]);
    expect(store.account('veteran')?.role).toBe('operator');
    expect(store.topics().get('#lobby')).toBe('cluster news');
    side.fromLink({ t: 'written', seq: sent.at(-1)?.seq ?? 0 });
    side.fromLink({ t: 'snapshot', items: [], first: true, last: true });
    expect(sent).toHaveLength(2);
    expect(store.account('veteran')).toBeNull(); // a copy now: Redis no longer has it, so it goes
  });

  it('keeps what the link sends before the database opens, and applies it then', () => {
    const { store, side, copy } = make(false);
    side.fromLink({ t: 'snapshot', items: [{ c: 'account', name: 'alice', account: alice }], first: true, last: true });
    store.attach(copy);
    expect(store.account('alice')?.hash).toBe(HASH);
  });

  it('refuses a change while too many wait for Redis, before making it here', () => {
    const limit = 20;
    const { store } = make(true, limit);
    for (let i = 0; i < limit; i++) store.setIgnore('alice', `n${i}`, true);
    expect(() => store.addBan(spam)).toThrow(/Redis has not taken the last/);
    expect(store.bans(2)).toEqual([]);
  });
});
