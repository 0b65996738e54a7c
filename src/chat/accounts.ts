/**
 * Accounts: /register, /login NAME, /password, /logout, and the password prompts
 * they lead to. While a password is typed the server says it will echo (IAC WILL
 * ECHO), so the client stops echoing, and echoes nothing; IAC WONT ECHO after gives
 * the client its echo back. A password line is never said, stored, logged or shown.
 * /register, /login and /password always ask for the password first, and say what
 * stands in the way only once it is typed: whoever types the command types the
 * password right after, without waiting to read the answer, and it must not become chat.
 *
 * Hashing or checking a password is the hasher process's job (core.hasher): the
 * request goes, the loop serves everyone else, and the answer comes on a later turn.
 * Meanwhile the member is 'checking': echo stays off, and a line typed then is not
 * taken (it may well be the password typed again, which must not become chat) and
 * they are told so at once.
 */
import type { PasswordAnswer, PasswordHasher } from '../contracts.js';
import type { Account, Store } from '../store/store.js';
import type { ChatCore } from './core.js';
import { describeUntil } from './duration.js';
import type { Member, Prompt } from './model.js';
import { checkPassword, MAX_PASSWORD_BYTES } from './password.js';
import { GUEST_PATTERN } from './rules.js';

/** IAC WILL ECHO: the server echoes, so the client stops (RFC 857); the server then echoes nothing. */
const ECHO_OFF = Buffer.from([255, 251, 1]);
/** IAC WONT ECHO: the client echoes again. */
const ECHO_ON = Buffer.from([255, 252, 1]);
/** The end of a password line, which the client did not echo either. */
const LINE_END = Buffer.from('\r\n');
/** The most of a name typed after /login that is shown back (no name is longer than MAX_NICK_LENGTH). */
const MAX_SHOWN_NAME_LENGTH = 24;
const STILL_CHECKING = 'Still checking your password: that line was not taken. Wait for the answer.';

/** The accounts database, or a notice that there is none (nor a hasher); null when there is none. */
function storeOf(core: ChatCore, member: Member): Store | null {
  if (core.store === null || core.hasher === null) {
    core.tell(member, 'Accounts are not available on this server.');
    return null;
  }
  return core.store;
}

function ask(core: ChatCore, member: Member, prompt: Prompt, question: string): void {
  if (member.prompt === null) core.delivery?.sendTelnet(member.connection, ECHO_OFF);
  member.prompt = prompt;
  core.tell(member, `${question} (not shown as you type; an empty line cancels)`);
}

/** Whether the member's next line answers a prompt (a function: `then` may have asked anew). */
function asking(member: Member): boolean {
  return member.prompt !== null;
}

function endPrompt(core: ChatCore, member: Member): void {
  if (member.prompt === null) return;
  member.prompt = null;
  core.delivery?.sendTelnet(member.connection, ECHO_ON);
}

/** Ends the prompt, echo back on, and says how it ended. */
function done(core: ChatCore, member: Member, text: string): void {
  endPrompt(core, member);
  core.tell(member, text);
}

/**
 * Sends a request to the hasher; `then` gets its answer on a later loop turn, if the
 * member is still here. A full queue, or a hasher that died, is told plainly with how
 * to try again (`retry`). Returns whether the request went.
 */
function check<T>(core: ChatCore, member: Member, request: (hasher: PasswordHasher, answer: (result: PasswordAnswer<T>) => void) => boolean, retry: string, then: (value: T) => void): boolean {
  const hasher = core.hasher;
  if (hasher === null) {
    done(core, member, 'Accounts are not available on this server.');
    return false;
  }
  const checking: Prompt = { kind: 'checking' };
  // Answered on a later loop turn, never during this call: by then the member is checking.
  const asked = request(hasher, (result) => {
    if (core.members.get(member.connection.pid) !== member || member.prompt !== checking) return; // left meanwhile
    endPrompt(core, member);
    core.guarded(member, () => (result.ok ? then(result.value) : core.tell(member, `Sorry: ${result.why}. Try again: ${retry}`)));
    if (!asking(member)) core.arrive(member); // a newcomer whose first command this was: under the name it has now
  });
  if (!asked) {
    done(core, member, `The server is busy checking other passwords; try again in a moment: ${retry}`);
    return false;
  }
  member.prompt = checking; // echo stays off until the answer
  return true;
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
  const question = `Choose a password for ${member.nick}`;
  if (storeOf(core, member) === null) return;
  if (member.account !== null) return refuse(core, member, question, `You are logged in as ${member.account} already.`);
  if (GUEST_PATTERN.test(member.nick)) return refuse(core, member, question, 'Choose your name with /nick NAME first, then /register.');
  const problem = reservedName(core, member, member.nick);
  if (problem !== null) return refuse(core, member, question, problem);
  ask(core, member, { kind: 'register' }, question);
}

/** Asks for the password of /login NAME, whatever the name: startLogin() says what is wrong once it is typed. */
export function login(core: ChatCore, member: Member, name: string): void {
  const store = storeOf(core, member);
  if (store === null) return;
  if (name === '') return refuse(core, member, 'Password', 'Usage: /login NAME');
  const account = store.account(name)?.name ?? name.slice(0, MAX_SHOWN_NAME_LENGTH);
  ask(core, member, { kind: 'login', account }, `Password for ${account}`);
}

export function changePassword(core: ChatCore, member: Member): void {
  const question = 'Your current password';
  if (storeOf(core, member) === null) return;
  if (member.account === null) return refuse(core, member, question, 'Log in first: /login NAME');
  ask(core, member, { kind: 'old-password' }, question);
}

/** Asks for the password anyway, then says `why` the command cannot go on. */
function refuse(core: ChatCore, member: Member, question: string, why: string): void {
  ask(core, member, { kind: 'refused', why }, question);
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

/** A line typed at a password prompt, or while one is checked: never said to anyone. */
export function answer(core: ChatCore, member: Member, text: string): void {
  const prompt = member.prompt;
  const store = core.store;
  if (prompt === null || store === null) return;
  if (prompt.kind === 'checking') return core.tell(member, STILL_CHECKING);
  core.delivery?.send(member.connection, LINE_END);
  try {
    reply(core, store, member, prompt, text);
  } finally {
    if (member.prompt === prompt) endPrompt(core, member); // it threw: echo back on, whatever happens next
  }
}

function reply(core: ChatCore, store: Store, member: Member, prompt: Exclude<Prompt, { kind: 'checking' }>, text: string): void {
  if (prompt.kind === 'refused') return done(core, member, prompt.why);
  if (text === '') return done(core, member, 'Cancelled.');
  switch (prompt.kind) {
    case 'register':
    case 'new-password': {
      const problem = checkPassword(text);
      if (problem !== null) return done(core, member, `${problem} Start again.`);
      const again = prompt.kind === 'register' ? { kind: 'register-again' as const, first: text } : { kind: 'new-password-again' as const, first: text };
      return ask(core, member, again, 'Type it again');
    }
    case 'register-again': {
      if (text !== prompt.first) return done(core, member, 'The two passwords differ. Start again: /register');
      const name = member.nick;
      const problem = reservedName(core, member, name);
      if (problem !== null) return done(core, member, problem);
      check<string>(core, member, (hasher, answer) => hasher.hash(text, answer), '/register', (hash) => finishRegister(core, store, member, name, hash));
      return;
    }
    case 'login':
      return startLogin(core, store, member, prompt.account, text);
    case 'old-password': {
      const wait = core.throttle.wait(member.connection.address, core.nowMs());
      if (wait > 0) return done(core, member, `Too many failed tries from your address: try again in ${wait} s.`);
      const account = member.account === null ? null : store.account(member.account);
      // No stored password is that long (nor could it fit in a request to the hasher).
      if (account === null || Buffer.byteLength(text) > MAX_PASSWORD_BYTES) {
        core.throttle.failed(member.connection.address, core.nowMs());
        return done(core, member, 'That is not your password.');
      }
      check<boolean>(core, member, (hasher, answer) => hasher.verify(text, account.hash, answer), '/password', (right) => {
        if (right && member.account === account.name) return ask(core, member, { kind: 'new-password' }, 'Your new password');
        core.throttle.failed(member.connection.address, core.nowMs());
        core.tell(member, 'That is not your password.');
      });
      return;
    }
    case 'new-password-again': {
      const name = member.account;
      if (text !== prompt.first || name === null) return done(core, member, 'The two passwords differ. Start again: /password');
      check<string>(core, member, (hasher, answer) => hasher.hash(text, answer), '/password', (hash) => {
        if (member.account !== name) return core.tell(member, 'You were logged out meanwhile: your password is not changed.');
        store.setPassword(name, hash);
        core.log('info', `password changed for ${name} from ${member.connection.address}`);
        core.tell(member, 'Your password is changed.');
      });
      return;
    }
  }
}

function finishRegister(core: ChatCore, store: Store, member: Member, name: string, hash: string): void {
  if (member.nick !== name) return core.tell(member, `You were renamed meanwhile, so ${name} is not registered. Start again: /register`);
  const problem = reservedName(core, member, name);
  if (problem !== null) return core.tell(member, problem);
  if (!store.addAccount(name, hash, 'user', core.nowMs())) return core.tell(member, `The name ${name} was registered meanwhile.`);
  member.account = name;
  member.role = 'user';
  core.log('info', `register ${name} from ${member.connection.address}`);
  core.tell(member, `The name ${name} is yours now. Next time: /login ${name}`);
}

function startLogin(core: ChatCore, store: Store, member: Member, name: string, password: string): void {
  const now = core.nowMs();
  const address = member.connection.address;
  const wait = core.throttle.wait(address, now);
  if (wait > 0) return done(core, member, `Too many failed logins from your address: try again in ${wait} s.`);
  const account = store.account(name);
  if (account === null) return done(core, member, `No account is called ${name}. /register makes one for your name.`);
  // No stored password is that long (nor could it fit in a request to the hasher).
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return loginFailed(core, member, name, true);
  const asked = check<boolean>(core, member, (hasher, answer) => hasher.verify(password, account.hash, answer), `/login ${account.name}`, (right) => {
    if (right) finishLogin(core, member, account);
    else loginFailed(core, member, account.name, false);
  });
  // Counted as failed until the answer says otherwise: logins checked at once from one
  // address cannot outrun the throttle.
  if (asked) core.throttle.failed(address, now);
}

function loginFailed(core: ChatCore, member: Member, name: string, count: boolean): void {
  const address = member.connection.address;
  if (count) core.throttle.failed(address, core.nowMs());
  core.log('warn', `login failed for ${name} from ${address}`);
  done(core, member, 'Wrong password.');
}

/** The password matched `checked`, the account as it was when the check began. */
function finishLogin(core: ChatCore, member: Member, checked: Account): void {
  const now = core.nowMs();
  const name = checked.name;
  core.throttle.succeeded(member.connection.address);
  const account = core.store?.account(name) ?? null; // as it is now: deleted, or given another role, meanwhile
  if (account === null) return core.tell(member, `The account ${name} was deleted meanwhile.`);
  // Made again (on another server), or its password changed, while this one was checked.
  if (account.created !== checked.created || account.hash !== checked.hash) return core.tell(member, `The account ${name} changed while your password was checked. Try again: /login ${name}`);
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
    core.tell(other, elsewhere ? `${account.name} logged in elsewhere, so you are logged out here.` : `${account.name} is a registered name and its owner logged in, so you have another name.`);
    core.rename(other, core.guestName()); // after the why: 'You are now known as guest-9.'
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
