/**
 * Commands for everyone beyond talking: /ignore, /unignore, /away, /topic, /history.
 * Ignores and topics are kept in the database (ignores for registered users only).
 */
import { MAX_LISTED_ROWS } from './budget.js';
import type { ChatCore } from './core.js';
import type { Member } from './model.js';

export const MAX_TOPIC_LENGTH = 200;
export const MAX_AWAY_LENGTH = 100;
/** The most lines /history shows (the database keeps as many per room). */
export const MAX_HISTORY_LINES = 200;
/** Names one person may ignore. */
const MAX_IGNORES = 100;

export function ignore(core: ChatCore, member: Member, name: string): void {
  if (name === '') {
    const names = [...member.ignores].slice(0, MAX_LISTED_ROWS);
    return core.tell(member, names.length === 0 ? 'You ignore nobody. Usage: /ignore NAME' : `You ignore: ${names.join(', ')}`);
  }
  const key = name.toLowerCase();
  if (key === member.nick.toLowerCase()) return core.tell(member, 'That is you.');
  if (member.ignores.has(key)) return core.tell(member, `You ignore ${name} already.`);
  if (member.ignores.size >= MAX_IGNORES) return core.tell(member, `You ignore ${MAX_IGNORES} names already: /unignore some first.`);
  member.ignores.add(key);
  core.countIgnore(key, 1);
  if (member.account !== null) core.store?.setIgnore(member.account, key, true);
  core.tell(member, `You no longer see what ${name} says${member.account === null ? ' (until you leave; /register to keep it)' : ''}.`);
}

export function unignore(core: ChatCore, member: Member, name: string): void {
  if (name === '') return core.tell(member, 'Usage: /unignore NAME');
  const key = name.toLowerCase();
  if (!member.ignores.delete(key)) return core.tell(member, `You do not ignore ${name.slice(0, 24)}.`);
  core.countIgnore(key, -1);
  if (member.account !== null) core.store?.setIgnore(member.account, key, false);
  core.tell(member, `You see what ${name} says again.`);
}

export function away(core: ChatCore, member: Member, message: string): void {
  if (message === '' && member.away !== null) {
    member.away = null;
    return core.tell(member, 'You are back.');
  }
  member.away = message === '' ? 'away' : message.slice(0, MAX_AWAY_LENGTH);
  core.tell(member, `You are away (${member.away}); /away again when you are back.`);
}

export function topic(core: ChatCore, member: Member, text: string): void {
  const room = member.room;
  if (text === '') {
    const current = core.topics.get(room.name);
    return core.tell(member, current === undefined ? `${room.name} has no topic. /topic TEXT sets one.` : `Topic of ${room.name}: ${current}`);
  }
  if (member.account === null) return core.tell(member, 'Only registered users set topics: /register first.');
  const cleared = text === '-';
  const value = cleared ? '' : text.slice(0, MAX_TOPIC_LENGTH);
  if (cleared) core.topics.delete(room.name);
  else core.topics.set(room.name, value);
  core.store?.setTopic(room.name, value);
  core.announce(room, cleared ? `${member.nick} cleared the topic` : `${member.nick} set the topic: ${value}`);
}

export function history(core: ChatCore, member: Member, args: string): void {
  const wanted = args === '' ? Math.max(core.historyLines, 1) : /^\d{1,4}$/.test(args) ? Number(args) : NaN;
  if (!(wanted >= 1)) return core.tell(member, `Usage: /history [N] (N up to ${MAX_HISTORY_LINES})`);
  const count = Math.min(wanted, MAX_HISTORY_LINES);
  const lines = core.store?.history(member.room.name, count) ?? core.history.of(member.room.name).slice(-count);
  if (lines.length === 0) return core.tell(member, `Nothing was said in ${member.room.name} yet.`);
  core.tell(member, `Last ${lines.length} ${lines.length === 1 ? 'line' : 'lines'} in ${member.room.name}:`);
  for (const line of lines) core.write(member, line);
}
