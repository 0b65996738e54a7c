/**
 * Who is in the room with you, as the chat's own lines tell it: the welcome and its
 * "Here with you", "joined", "left", "is now known as", and the answer to /who (which
 * replaces the list). Only the server's announcements start with "*** " (no user's line
 * can), so nobody can add or remove names by typing. It knows what the lines said, no
 * more: a list cut at its first names says how many more there are. Pure: text in.
 */

/** An announcement, after its optional [HH:MM] stamp. */
const ANNOUNCEMENT = /^(?:\[\d\d:\d\d\] )?\*\*\* (.*)$/;

export class WhoList {
  /** @param {() => void} changed called after every change */
  constructor(changed = () => {}) {
    this.changed = changed;
    this.reset();
  }

  /** Forgets everything (a new connection). */
  reset() {
    /** @type {Set<string>} */
    this.people = new Set();
    this.me = '';
    this.room = '';
    /** People the chat said were here without naming them. */
    this.unnamed = 0;
    this.partial = '';
    /** While the rows of a /who answer come: how many are still to come. */
    this.rowsLeft = 0;
  }

  /** Text as it arrives (lines may be split across calls). */
  feed(text) {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    let any = false;
    for (const line of lines) any = this.line(line.replace(/\r$/, '')) || any;
    if (any) this.changed();
  }

  /** One line; true when it changed the list. */
  line(line) {
    const match = ANNOUNCEMENT.exec(line);
    if (match === null) {
      this.rowsLeft = 0;
      return false;
    }
    const text = match[1] ?? '';
    if (this.rowsLeft > 0) {
      const more = /^ {2}\.\.\. and (\d+) more$/.exec(text);
      const row = /^ {2}(\S+)/.exec(text);
      if (more !== null) {
        this.unnamed = Number(more[1]);
        this.rowsLeft = 0;
        return true;
      }
      if (row !== null) {
        this.rowsLeft--;
        this.people.add(row[1]);
        return true;
      }
      this.rowsLeft = 0; // the answer has ended: this is another line
    }
    let m;
    if ((m = /^Welcome to posix-chat, (\S+)! You are in (#\S+)\.$/.exec(text))) {
      this.reset();
      this.me = m[1];
      this.room = m[2];
      this.people.add(this.me);
    } else if ((m = /^You are now in (#\S+)\. (.*)$/.exec(text))) {
      this.enter(m[1]);
      this.hereWithYou(m[2]);
    } else if (/^(Here with you: |Nobody else is here yet\.)/.test(text)) {
      this.hereWithYou(text);
    } else if ((m = /^(\d+) (?:person|people) in (#\S+):$/.exec(text))) {
      this.enter(m[2]);
      this.people.clear();
      this.unnamed = 0;
      this.rowsLeft = Math.min(Number(m[1]), 100);
    } else if ((m = /^(\S+) joined (#\S+)$/.exec(text))) {
      this.people.add(m[1]);
    } else if ((m = /^(\S+) left(?: \(.*\)| for #\S+)$/.exec(text))) {
      this.people.delete(m[1]);
    } else if ((m = /^(\S+) is now known as (\S+)$/.exec(text))) {
      this.rename(m[1], m[2]);
    } else if ((m = /^You are now known as (\S+)\.$/.exec(text))) {
      this.rename(this.me, m[1]);
      this.me = m[1];
    } else {
      return false;
    }
    return true;
  }

  enter(room) {
    if (room === this.room) return;
    this.room = room;
    this.people = new Set(this.me === '' ? [] : [this.me]);
    this.unnamed = 0;
  }

  hereWithYou(text) {
    const names = /^Here with you: (.*?)(?: and (\d+) more \(.*\))?\.?$/.exec(text);
    if (names === null) return;
    for (const name of names[1].split(', ')) this.people.add(name);
    this.unnamed = Number(names[2] ?? 0);
  }

  rename(from, to) {
    if (!this.people.delete(from)) return;
    this.people.add(to);
  }

  /** The names, sorted, and how many more were not named. */
  list() {
    return { names: [...this.people].sort((a, b) => a.localeCompare(b)), more: this.unnamed, me: this.me, room: this.room };
  }
}
