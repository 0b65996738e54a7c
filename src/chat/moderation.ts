/**
 * The operators' commands: /kick, /ban, /unban, /bans, /mute, /unmute, /op, /deop.
 * Anyone else gets a refusal. Every action goes to the audit table and the log.
 */
import type { Ban } from '../store/store.js';
import { MAX_LISTED_ROWS } from './budget.js';
import { inBlock, parseBlock, type Block } from './cidr.js';
import type { ChatCore } from './core.js';
import { describeUntil, DURATION_HINT, looksLikeDuration, parseDuration } from './duration.js';
import type { Member } from './model.js';
import { checkNick } from './rules.js';

export const OPERATOR_COMMANDS: ReadonlySet<string> = new Set(['kick', 'ban', 'unban', 'bans', 'mute', 'unmute', 'op', 'deop']);
/** The longest reason kept, in characters. */
const MAX_REASON_LENGTH = 200;

/** Runs operator command `word` for `member`, or refuses it. */
export function moderate(core: ChatCore, member: Member, word: string, args: string): void {
  if (member.role !== 'operator') return core.tell(member, `/${word} is for operators only.`);
  const [first = '', ...rest] = args.split(' ').filter((part) => part !== '');
  switch (word) {
    case 'kick':
      return kick(core, member, first, rest.join(' '));
    case 'ban':
      return ban(core, member, first, rest);
    case 'unban':
      return unban(core, member, first);
    case 'bans':
      return listBans(core, member);
    case 'mute':
      return mute(core, member, first, rest[0]);
    case 'unmute':
      return unmute(core, member, first);
    case 'op':
    case 'deop':
      return setRole(core, member, first, word === 'op' ? 'operator' : 'user');
  }
}

function audit(core: ChatCore, actor: Member, action: string, target: string, reason = ''): void {
  const at = core.nowMs();
  core.store?.audit({ at, actor: actor.nick, action, target, reason });
  core.log('warn', `${action} ${target} by ${actor.nick}${reason === '' ? '' : `: ${reason}`}`);
}

function online(core: ChatCore, member: Member, name: string, usage: string): Member | null {
  if (name === '') {
    core.tell(member, `Usage: ${usage}`);
    return null;
  }
  const target = core.byNick.get(name.toLowerCase());
  if (target === undefined) core.tell(member, `Nobody called ${name.slice(0, 24)} is on this server.`);
  return target ?? null;
}

function kick(core: ChatCore, member: Member, name: string, reason: string): void {
  const target = online(core, member, name, '/kick NAME [REASON]');
  if (target === null) return;
  const why = reason.slice(0, MAX_REASON_LENGTH);
  audit(core, member, 'kick', target.nick, why);
  core.tell(member, `Kicked ${target.nick}.`);
  core.delivery?.disconnect(target.connection, { kind: 'kicked', detail: `kicked by ${member.nick}${why === '' ? '' : `: ${why}`}` });
}

function ban(core: ChatCore, member: Member, target: string, rest: string[]): void {
  if (target === '') return core.tell(member, 'Usage: /ban NAME|ADDRESS|CIDR [DURATION like 30m, 2h, 7d] [REASON]');
  const block = parseBlock(target);
  if (block === null && checkNick(target) !== null) return core.tell(member, `${target.slice(0, 48)} is neither a name nor an address or CIDR block.`);
  const duration = rest[0] === undefined ? null : parseDuration(rest[0]);
  // A mistyped duration would otherwise become a ban until lifted, with the typo for its reason.
  if (duration === null && rest[0] !== undefined && looksLikeDuration(rest[0])) return core.tell(member, `${rest[0].slice(0, 24)} is not a duration: ${DURATION_HINT}, or none for until lifted. Nobody was banned.`);
  const reason = (duration === null ? rest : rest.slice(1)).join(' ').slice(0, MAX_REASON_LENGTH);
  const now = core.nowMs();
  const entry: Ban = { target: block?.text ?? target.toLowerCase(), kind: block === null ? 'name' : 'address', until: duration === null ? null : now + duration, by: member.nick, reason, at: now };
  const banned = [...core.members.values()].filter((m) => hits(entry, block, m));
  if (banned.includes(member)) return core.tell(member, 'That ban would take you too; not done.');
  core.bans.add(entry);
  core.store?.addBan(entry);
  audit(core, member, 'ban', `${entry.target} ${describeUntil(entry.until, now)}`, reason);
  core.tell(member, `Banned ${entry.target} ${describeUntil(entry.until, now)}${banned.length === 0 ? '' : `; disconnected ${banned.map((m) => m.nick).join(', ')}`}.`);
  for (const m of banned) core.delivery?.disconnect(m.connection, { kind: 'kicked', detail: `banned by ${member.nick}${reason === '' ? '' : `: ${reason}`}` });
}

/** Whether `member` is one the ban takes: by its address, or its name or account. */
function hits(entry: Ban, block: Block | null, member: Member): boolean {
  if (block !== null) return inBlock(block, member.connection.address);
  return member.nick.toLowerCase() === entry.target || member.account?.toLowerCase() === entry.target;
}

function unban(core: ChatCore, member: Member, target: string): void {
  if (target === '') return core.tell(member, 'Usage: /unban NAME|ADDRESS|CIDR');
  const key = parseBlock(target)?.text ?? target.toLowerCase();
  const here = core.bans.remove(key);
  const stored = core.store?.removeBan(key) ?? false;
  if (!here && !stored) return core.tell(member, `${key.slice(0, 48)} is not banned. /bans lists the bans.`);
  audit(core, member, 'unban', key);
  core.tell(member, `Lifted the ban on ${key}.`);
}

function listBans(core: ChatCore, member: Member): void {
  const now = core.nowMs();
  const bans = core.bans.list(now);
  if (bans.length === 0) return core.tell(member, 'Nobody is banned.');
  core.tell(member, `${bans.length} ${bans.length === 1 ? 'ban' : 'bans'}:`);
  for (const b of bans.slice(0, MAX_LISTED_ROWS)) core.tell(member, `  ${b.target} ${describeUntil(b.until, now)}, by ${b.by}${b.reason === '' ? '' : `: ${b.reason}`}`);
  if (bans.length > MAX_LISTED_ROWS) core.tell(member, `  ... and ${bans.length - MAX_LISTED_ROWS} more`);
}

function mute(core: ChatCore, member: Member, name: string, durationText: string | undefined): void {
  const target = online(core, member, name, '/mute NAME [DURATION like 30m, 2h, 7d]');
  if (target === null) return;
  const duration = durationText === undefined ? null : parseDuration(durationText);
  if (durationText !== undefined && duration === null) return core.tell(member, `${durationText.slice(0, 24)} is not a duration: ${DURATION_HINT}, or none for until lifted.`);
  const now = core.nowMs();
  const until = duration === null ? null : now + duration;
  target.mutedUntil = until ?? Infinity;
  if (target.account !== null) core.store?.setMute({ name: target.account, until });
  audit(core, member, 'mute', `${target.nick} ${describeUntil(until, now)}`);
  core.tell(member, `Muted ${target.nick} ${describeUntil(until, now)}.`);
  core.tell(target, `${member.nick} muted you ${describeUntil(until, now)}: nobody sees what you say.`);
}

function unmute(core: ChatCore, member: Member, name: string): void {
  const target = online(core, member, name, '/unmute NAME');
  if (target === null) return;
  target.mutedUntil = 0;
  if (target.account !== null) core.store?.removeMute(target.account);
  audit(core, member, 'unmute', target.nick);
  core.tell(member, `Unmuted ${target.nick}.`);
  core.tell(target, `${member.nick} unmuted you.`);
}

function setRole(core: ChatCore, member: Member, name: string, role: 'operator' | 'user'): void {
  const command = role === 'operator' ? '/op' : '/deop';
  if (name === '') return core.tell(member, `Usage: ${command} NAME`);
  const account = core.store?.account(name) ?? null;
  if (account === null) return core.tell(member, `${name.slice(0, 24)} is not a registered name: only accounts can be operators.`);
  core.store?.setRole(account.name, role);
  for (const m of core.members.values()) {
    if (m.account?.toLowerCase() !== account.name.toLowerCase()) continue;
    m.role = role;
    core.tell(m, role === 'operator' ? `${member.nick} made you an operator.` : `${member.nick} took your operator rights.`);
  }
  audit(core, member, role === 'operator' ? 'op' : 'deop', account.name);
  core.tell(member, `${account.name} is ${role === 'operator' ? 'an operator' : 'no longer an operator'}.`);
}
