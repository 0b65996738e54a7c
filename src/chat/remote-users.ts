/**
 * The people on the other servers of a cluster (--redis), by lower-cased nick, as
 * their servers told us: for /who *, /msg, /rooms, and so nobody here takes their names.
 * What other servers tell comes through Redis, which others may write to: the list is
 * bounded, and a server can take only its own users off it.
 */

/** The most users of other servers kept; past it, newcomers elsewhere are not listed here. */
export const MAX_REMOTE_USERS = 100_000;

/** Someone on another server. */
export interface RemoteUser {
  nick: string;
  room: string;
  /** Their server: its instance id and its name. */
  readonly o: string;
  readonly srv: string;
  /** When this server last saw them act (their join, a line, a /msg), in ms since the epoch: their idle time counts from it. */
  lastActive: number;
}

export class RemoteUsers {
  private readonly byNick = new Map<string, RemoteUser>();

  /** Records `nick` as on server `o` (`srv`), in `room`, active at `now` unless known already; false when the list is full. */
  set(nick: string, room: string, o: string, srv: string, now: number): boolean {
    const key = nick.toLowerCase();
    const known = this.byNick.get(key);
    if (this.byNick.size >= MAX_REMOTE_USERS && known === undefined) return false;
    this.byNick.set(key, { nick, room, o, srv, lastActive: known?.o === o ? known.lastActive : now });
    return true;
  }

  /** `nick` of server `o` did something at `now`: their idle time starts again. */
  touch(nick: string, o: string, now: number): void {
    const user = this.byNick.get(nick.toLowerCase());
    if (user?.o === o) user.lastActive = now;
  }

  /** Forgets `nick` if it is a user of server `o`. */
  delete(nick: string, o: string): void {
    const key = nick.toLowerCase();
    if (this.byNick.get(key)?.o === o) this.byNick.delete(key);
  }

  get(nick: string): RemoteUser | undefined {
    return this.byNick.get(nick.toLowerCase());
  }

  has(nick: string): boolean {
    return this.byNick.has(nick.toLowerCase());
  }

  get size(): number {
    return this.byNick.size;
  }

  clear(): void {
    this.byNick.clear();
  }

  values(): IterableIterator<RemoteUser> {
    return this.byNick.values();
  }

  /** The name of server `o`, as one of its users last told it. */
  serverName(o: string): string | undefined {
    for (const user of this.byNick.values()) if (user.o === o) return user.srv;
    return undefined;
  }

  /** Forgets every user of server `o` and returns them. */
  dropServer(o: string): RemoteUser[] {
    const dropped: RemoteUser[] = [];
    for (const [key, user] of this.byNick) {
      if (user.o !== o) continue;
      this.byNick.delete(key);
      dropped.push(user);
    }
    return dropped;
  }
}
