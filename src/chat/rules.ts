/**
 * The chat's rules and words: what a name and a room may be, the help text, and how
 * a leave or an idle time is said. Pure: no state, no I/O.
 */

import type { DisconnectReason } from '../contracts.js';

export const LOBBY = '#lobby';
export const MAX_NICK_LENGTH = 16;
export const MAX_ROOM_NAME_LENGTH = 24;
export const NICK_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;
export const ROOM_PATTERN = /^#[a-z0-9][a-z0-9_-]*$/;
/** Names newcomers get: nobody may take one with /nick, so guests never collide (across servers either). */
export const GUEST_PATTERN = /^guest-\d+$/i;
/** Rooms whose history is kept once nobody is in them (past this, the one that got its history first goes). */
export const MAX_KEPT_HISTORIES = 500;
export const CRLF = '\r\n';
/**
 * What starts the server's own lines to a room (`*** alice left (quit: bye)`), after the
 * timestamp, as it starts its notices to one person. No user's line can start so: a
 * public line starts with `<` (`<alice> ...`), a /me line with `* ` and a nick, which
 * starts with a letter (NICK_PATTERN), a private one with `*` and a nick, or `-> `. So
 * `/me left (quit: bye)` shows as `* alice left (quit: bye)`, never as a departure.
 */
export const ANNOUNCEMENT_PREFIX = '*** ';
/**
 * How long a newcomer who has said nothing waits to be announced (ms). Whatever connects
 * and goes at once (a port scanner, a load balancer's plain TCP check, a dropped
 * connection) is never announced, and never "left" either. A newcomer who says or does
 * anything first is announced then, under the name it has after that.
 */
export const QUIET_ARRIVAL_MS = 2_000;
/** Names listed to someone entering a room; a bigger room gets a count and a pointer to /who. */
export const MAX_NAMES_ON_ENTRY = 20;

export const NOT_ENCRYPTED = 'Telnet is not encrypted: use a password you use nowhere else.';

export const HELP: readonly string[] = [
  'Commands:',
  '  /nick NAME        choose your name (a-z, A-Z, digits, _ and -; up to 16)',
  '  /who              who is in your room, and how long they have been idle',
  '  /who *            everyone online, with their room',
  '  /me ACTION        say what you do:  * you ACTION',
  '  /msg NAME TEXT    a private message, to anyone in any room',
  '  /join #ROOM       go to a room (made if new); /join #lobby to come back',
  '  /rooms            the rooms and how many are in each',
  '  /topic [TEXT]     show or set the topic of your room',
  '  /history [N]      the last N lines of your room',
  '  /away [MESSAGE]   say you are away (shown in /who); again: back',
  '  /ignore NAME      hide what NAME says; /unignore NAME to undo',
  '  /register         keep your name: choose a password for it',
  '  /login NAME       log in (the password follows); /logout',
  '  /password         change your password',
  '  /quit [REASON]    leave (the others see the reason)',
  '  /help             this list',
  'Operators: /kick NAME [REASON], /ban NAME|ADDRESS|CIDR [30m|2h|7d] [WHY],',
  '  /unban TARGET, /bans, /mute NAME [DURATION], /unmute NAME, /op, /deop',
  'Anything else you type goes to everyone in your room.',
  'To say a line that starts with /, start it with //.',
];

/** Null when `nick` is acceptable, else why not. */
export function checkNick(nick: string): string | null {
  if (nick === '') return 'Usage: /nick NAME';
  if (nick.length > MAX_NICK_LENGTH) return `A name has at most ${MAX_NICK_LENGTH} characters.`;
  if (!NICK_PATTERN.test(nick)) return 'A name starts with a letter a-z or A-Z and has only such letters, digits, _ and -.';
  return null;
}

/** Null when `name` (lower-cased, with its #) is an acceptable room name, else why not. */
export function checkRoom(name: string): string | null {
  if (name.length > MAX_ROOM_NAME_LENGTH + 1) return `A room name has at most ${MAX_ROOM_NAME_LENGTH} characters after the #.`;
  if (!ROOM_PATTERN.test(name)) return 'A room name is # then letters, digits, _ and - (like #games).';
  return null;
}

/** A public line without its timestamp: `<bob> hi`, or for a /me action `* bob waves`. */
export function lineBody(nick: string, text: string, me: boolean): string {
  return me ? `* ${nick} ${text}` : `<${nick}> ${text}`;
}

/** The minute minuteStamp() last made a stamp for (since the epoch), and that stamp. */
let stampedMinute = NaN;
let stampText = '';

/**
 * `[HH:MM] ` in local time for `ms` (ms since the epoch). Every line starts with one, and
 * reading the hour goes through the time zone each time, so it is made once a minute
 * (zones' offsets today are whole minutes: their minutes turn over with the epoch's). It
 * is kept for the whole process, not per chat: the stamp the parent's start-up rehearsal
 * made, on a stand-in chat, is then the real chat's too, until the minute turns. For that
 * turn, the rehearsal makes stamps first (STAMPED_MINUTES in parent/rehearsal.ts).
 */
export function minuteStamp(ms: number): string {
  const minute = Math.floor(ms / 60_000);
  if (minute !== stampedMinute) {
    const now = new Date(ms);
    stampedMinute = minute;
    stampText = `[${String(now.getHours()).padStart(2, '0')}:${String(now.getMinutes()).padStart(2, '0')}] `;
  }
  return stampText;
}

/**
 * Who is in the room, for someone entering it: `names`, the first MAX_NAMES_ON_ENTRY of
 * the `count` others there, then how many more.
 */
export function hereWithYou(names: readonly string[], count: number): string {
  if (count === 0) return 'Nobody else is here yet.';
  if (count <= names.length) return `Here with you: ${names.join(', ')}.`;
  return `Here with you: ${names.join(', ')} and ${count - names.length} more (/who lists everyone).`;
}

export function describeLeave(reason: DisconnectReason): string {
  switch (reason.kind) {
    case 'quit':
      return reason.detail ? `quit: ${reason.detail}` : 'quit';
    case 'closed':
      return 'connection closed';
    case 'lost':
      return 'connection lost';
    case 'timeout':
      return 'timed out';
    case 'kicked':
      return reason.detail ? `disconnected: ${reason.detail}` : 'disconnected';
    default:
      return reason.detail ? `${reason.kind}: ${reason.detail}` : reason.kind;
  }
}

export function formatIdle(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
