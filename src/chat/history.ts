/**
 * Room history: the last public lines of each room, formatted, oldest first, shown
 * to whoever enters. Kept a while after a room empties; past MAX_KEPT_HISTORIES
 * rooms, the history of the room that got one first, among those nobody is in, goes first.
 */
import { MAX_KEPT_HISTORIES } from './rules.js';

/**
 * One room's last lines, in a ring: remembering a line once the ring is full overwrites
 * the oldest in place. An array kept by push() and shift() moved every line it held at
 * each new one, on the path of every public line.
 */
class LineRing {
  private readonly lines: string[] = [];
  /** Where the oldest line is, once the ring is full (and so where the next one goes). */
  private oldest = 0;

  constructor(private readonly capacity: number) {}

  add(line: string): void {
    if (this.lines.length < this.capacity) {
      this.lines.push(line);
      return;
    }
    this.lines[this.oldest] = line;
    this.oldest = this.oldest + 1 === this.capacity ? 0 : this.oldest + 1;
  }

  /** The lines, oldest first. */
  inOrder(): string[] {
    return this.oldest === 0 ? this.lines.slice() : [...this.lines.slice(this.oldest), ...this.lines.slice(0, this.oldest)];
  }
}

export class RoomHistories {
  private readonly histories = new Map<string, LineRing>();

  /**
   * @param linesPerRoom lines kept per room (0: none)
   * @param inUse whether someone is in a room now (its history is never dropped then)
   */
  constructor(
    private readonly linesPerRoom: number,
    private readonly inUse: (room: string) => boolean,
  ) {}

  remember(room: string, line: string): void {
    if (this.linesPerRoom === 0) return;
    let history = this.histories.get(room);
    if (history === undefined) {
      history = new LineRing(this.linesPerRoom);
      this.histories.set(room, history);
      if (this.histories.size > MAX_KEPT_HISTORIES) this.forgetOldest();
    }
    history.add(line);
  }

  /** The lines kept for `room`, oldest first. */
  of(room: string): readonly string[] {
    return this.histories.get(room)?.inOrder() ?? [];
  }

  /** Drops the history of the first room (in insertion order) nobody is in. */
  private forgetOldest(): void {
    for (const name of this.histories.keys()) {
      if (!this.inUse(name)) {
        this.histories.delete(name);
        return;
      }
    }
  }
}
