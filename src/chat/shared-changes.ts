/**
 * With --redis, another server (or `posix-chat user ... --redis`) changed the shared
 * data, and the database copy here has it now: refresh what the chat keeps in memory
 * (bans, topics, the roles, mutes and ignores of whoever is logged in here), and
 * disconnect whoever a new ban takes. Pure.
 */
import type { SharedItem } from '../store/store.js';
import type { ChatCore } from './core.js';
import type { Member } from './model.js';

/** `items` changed (`replace`: everything may have); `replaced`: accounts now another account of the same name. */
export function refreshShared(core: ChatCore, items: readonly SharedItem[], replace: boolean, replaced: readonly string[] = []): void {
  const store = core.store;
  if (store === null) return;
  const now = core.nowMs();
  const kinds = new Set(items.map((item) => item.c));
  if (replace || kinds.has('ban')) {
    core.bans.clear();
    core.bans.load(store.bans(now));
  }
  if (replace || kinds.has('topic')) {
    core.topics.clear();
    for (const [room, topic] of store.topics()) core.topics.set(room, topic);
  }
  const names = new Set(items.flatMap((item) => (item.c === 'account' || item.c === 'mute' || item.c === 'ignore' ? [item.name.toLowerCase()] : [])));
  const gone = new Set(replaced.map((name) => name.toLowerCase()));
  for (const member of core.members.values()) {
    if (member.account !== null && gone.has(member.account.toLowerCase())) logOut(core, member, member.account);
    else if (member.account !== null && (replace || names.has(member.account.toLowerCase()))) refreshMember(core, member, member.account, now);
  }
  if (replace || kinds.has('ban')) disconnectBanned(core, now);
}

function refreshMember(core: ChatCore, member: Member, name: string, now: number): void {
  const store = core.store;
  if (store === null) return;
  const account = store.account(name);
  const want = new Set(account === null ? [] : store.ignores(account.name).map((n) => n.toLowerCase()));
  for (const n of member.ignores) {
    if (want.has(n)) continue;
    member.ignores.delete(n);
    core.countIgnore(n, -1);
  }
  for (const n of want) {
    if (member.ignores.has(n)) continue;
    member.ignores.add(n);
    core.countIgnore(n, 1);
  }
  if (account === null) {
    member.account = null;
    member.role = null;
    return core.tell(member, `The account ${name} was deleted: you are a guest now.`);
  }
  if (account.role !== member.role) {
    member.role = account.role;
    core.tell(member, account.role === 'operator' ? 'You are an operator now.' : 'You are no longer an operator.');
  }
  const key = account.name.toLowerCase();
  const mute = store.mutes(now).find((m) => m.name.toLowerCase() === key);
  member.mutedUntil = mute === undefined ? 0 : (mute.until ?? Infinity);
}

/**
 * The account `member` logged in to is not the one of that name now (its registration
 * here lost to one made first on another server, or it was deleted and made again there):
 * it must not act as, nor inherit the role of, someone else's account.
 */
function logOut(core: ChatCore, member: Member, name: string): void {
  for (const n of member.ignores) core.countIgnore(n, -1);
  member.ignores.clear();
  member.account = null;
  member.role = null;
  core.log('warn', `logging ${member.nick} out of ${name} from ${member.connection.address}: the account was replaced on another server`);
  core.tell(member, `The account ${name} was replaced on another server: you are logged out.`);
  core.rename(member, core.guestName());
}

function disconnectBanned(core: ChatCore, now: number): void {
  for (const member of core.members.values()) {
    const ban = core.bans.ofAddress(member.connection.address, now) ?? core.bans.ofName(member.nick, now) ?? (member.account === null ? null : core.bans.ofName(member.account, now));
    if (ban === null) continue;
    core.log('warn', `disconnecting ${member.nick}: banned (${ban.target}) by ${ban.by} on another server`);
    core.delivery?.disconnect(member.connection, { kind: 'kicked', detail: `banned by ${ban.by}${ban.reason === '' ? '' : `: ${ban.reason}`}` });
  }
}
