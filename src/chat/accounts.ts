/**
 * Accounts: /register, /login NAME, /password, /logout, and the password prompts
 * they lead to. While a password is typed the server says it will echo (IAC WILL
 * ECHO), so the client stops echoing, and echoes nothing; IAC WONT ECHO after gives
 * the client its echo back. A password line is never said, stored, logged or shown.
 */
import type { Account } from '../store/store.js';
import type { ChatCore } from './core.js';
import { describeUntil } from './duration.js';
import type { Member, Prompt } from './model.js';
import { checkPassword, hashPassword, verifyPassword } from './password.js';
import { GUEST_PATTERN } from './rules.js';

/** IAC WILL ECHO: the server echoes, so the client stops (RFC 857); the server then echoes nothing. */
const ECHO_OFF = Buffer.from([255, 251, 1]);
/** IAC WONT ECHO: the client echoes again. */
const ECHO_ON = Buffer.from([255, 252, 1]);

/** The accounts database, or a notice that there is none; null when there is none. */
function storeOf(core: ChatCore, member: Member): ChatCore['store'] {
  if (core.store === null) core.tell(member, 'Accounts are not available on this server.');
  return core.store;
}

function ask(core: ChatCore, member: Member, prompt: Prompt, question: string): void {
  if (member.prompt === null) core.delivery?.sendTelnet(member.connection, ECHO_OFF);
  member.prompt = prompt;
  core.tell(member, `${question} (not shown as you type; an empty line cancels)`);
}

function endPrompt(core: ChatCore, member: Member): void {
  if (member.prompt === null) return;
  member.prompt = null;
  core.delivery?.sendTelnet(member.connection, ECHO_ON);
  core.delivery?.send(member.connection, Buffer.from('\r\n')); // the client did not echo the line end either
}

/** Why `member` may not take `name` (registered to someone else, or banned), or null. */
export function reservedName(core: ChatCore, member: Member, name: string): string | null {
  const ban = core.bans.ofName(name, core.nowMs());
  if (ban !== null) return `The name ${name} is banned.`;
  if (member.account?.toLowerCase() === name.toLowerCase()) return null;
  const account = core.store?.account(name) ?? null;
  return account === null ? null : `The name ${account.name} is registered. If it is yours: /login ${account.name}`;
}

export function register(core: ChatCore, member: Member): void {
  const store = storeOf(core, member);
  if (store === null) return;
  if (member.account !== null) return core.tell(member, `You are logged in as ${member.account} already.`);
  if (GUEST_PATTERN.test(member.nick)) return core.tell(member, 'Choose your name with /nick NAME first, then /register.');
  const problem = reservedName(core, member, member.nick);
  if (problem !== null) return core.tell(member, problem);
  ask(core, member, { kind: 'register' }, `Choose a password for ${member.nick}`);
}

export function login(core: ChatCore, member: Member, name: string): void {
  const store = storeOf(core, member);
  if (store === null) return;
  if (name === '') return core.tell(member, 'Usage: /login NAME');
  const wait = core.throttle.wait(member.connection.address, core.nowMs());
  if (wait > 0) return core.tell(member, `Too many failed logins from your address: try again in ${wait} s.`);
  const account = store.account(name);
  if (account === null) return core.tell(member, `No account is called ${name.slice(0, 24)}. /register makes one for your name.`);
  ask(core, member, { kind: 'login', account: account.name }, `Password for ${account.name}`);
}

export function changePassword(core: ChatCore, member: Member): void {
  if (storeOf(core, member) === null) return;
  if (member.account === null) return core.tell(member, 'Log in first: /login NAME');
  ask(core, member, { kind: 'old-password' }, 'Your current password');
}

export function logout(core: ChatCore, member: Member): void {
  if (member.account === null) return core.tell(member, 'You are not logged in.');
  core.log('info', `logout ${member.account} from ${member.connection.address}`);
  forget(core, member);
  core.tell(member, 'You are logged out.');
  core.rename(member, core.guestName());
}

/** The member is a guest again: its account's settings go. */
function forget(core: ChatCore, member: Member): void {
  for (const name of member.ignores) core.countIgnore(name, -1);
  member.ignores.clear();
  member.account = null;
  member.role = null;
}

/** A line typed at a password prompt: never said to anyone. */
export function answer(core: ChatCore, member: Member, text: string): void {
  const prompt = member.prompt;
  const store = core.store;
  if (prompt === null || store === null) return;
  endPrompt(core, member);
  if (text === '') return core.tell(member, 'Cancelled.');
  switch (prompt.kind) {
    case 'register':
    case 'new-password': {
      const problem = checkPassword(text);
      if (problem !== null) return core.tell(member, `${problem} Start again.`);
      const again = prompt.kind === 'register' ? { kind: 'register-again' as const, first: text } : { kind: 'new-password-again' as const, first: text };
      return ask(core, member, again, 'Type it again');
    }
    case 'register-again': {
      if (text !== prompt.first) return core.tell(member, 'The two passwords differ. Start again: /register');
      const problem = reservedName(core, member, member.nick);
      if (problem !== null) return core.tell(member, problem);
      if (!store.addAccount(member.nick, hashPassword(text), 'user', core.nowMs())) return core.tell(member, `The name ${member.nick} was registered meanwhile.`);
      member.account = member.nick;
      member.role = 'user';
      core.log('info', `register ${member.nick} from ${member.connection.address}`);
      return core.tell(member, `The name ${member.nick} is yours now. Next time: /login ${member.nick}`);
    }
    case 'login':
      return finishLogin(core, member, prompt.account, text);
    case 'old-password': {
      const account = member.account === null ? null : store.account(member.account);
      if (account === null || !verifyPassword(text, account.hash)) {
        core.throttle.failed(member.connection.address, core.nowMs());
        return core.tell(member, 'That is not your password.');
      }
      return ask(core, member, { kind: 'new-password' }, 'Your new password');
    }
    case 'new-password-again':
      if (text !== prompt.first || member.account === null) return core.tell(member, 'The two passwords differ. Start again: /password');
      store.setPassword(member.account, hashPassword(text));
      core.log('info', `password changed for ${member.account} from ${member.connection.address}`);
      return core.tell(member, 'Your password is changed.');
  }
}

function finishLogin(core: ChatCore, member: Member, name: string, password: string): void {
  const now = core.nowMs();
  const address = member.connection.address;
  const wait = core.throttle.wait(address, now);
  if (wait > 0) return core.tell(member, `Too many failed logins from your address: try again in ${wait} s.`);
  const account = core.store?.account(name) ?? null;
  if (account === null || !verifyPassword(password, account.hash)) {
    core.throttle.failed(address, now);
    core.log('warn', `login failed for ${name} from ${address}`);
    return core.tell(member, 'Wrong password.');
  }
  core.throttle.succeeded(address);
  const ban = core.bans.ofName(account.name, now);
  if (ban !== null) return core.tell(member, `The name ${account.name} is banned ${describeUntil(ban.until, now)}.`);
  takeName(core, member, account);
}

/** Logs `member` in: whoever holds the name (a guest, or this account elsewhere) gets another. */
function takeName(core: ChatCore, member: Member, account: Account): void {
  const key = account.name.toLowerCase();
  for (const other of core.members.values()) {
    if (other === member || (other.nick.toLowerCase() !== key && other.account?.toLowerCase() !== key)) continue;
    const elsewhere = other.account?.toLowerCase() === key;
    forget(core, other);
    core.rename(other, core.guestName());
    core.tell(other, elsewhere ? `${account.name} logged in elsewhere, so you are logged out here.` : `${account.name} is a registered name and its owner logged in, so you have another name.`);
  }
  if (member.account !== null) forget(core, member);
  member.account = account.name;
  member.role = account.role;
  const store = core.store;
  for (const name of store?.ignores(account.name) ?? []) {
    member.ignores.add(name);
    core.countIgnore(name, 1);
  }
  const mute = store?.mutes(core.nowMs()).find((m) => m.name.toLowerCase() === key);
  if (mute !== undefined) member.mutedUntil = mute.until ?? Infinity;
  core.log('info', `login ${account.name} (${account.role}) from ${member.connection.address}`);
  core.tell(member, `You are logged in as ${account.name}${account.role === 'operator' ? ', an operator' : ''}.`);
  if (member.nick !== account.name) core.rename(member, account.name);
}
