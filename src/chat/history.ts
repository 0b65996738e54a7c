/**
 * Room history: the last public lines of each room, formatted, oldest first, shown
 * to whoever enters. Kept a while after a room empties; past MAX_KEPT_HISTORIES
 * rooms, the history of the room that got one first, among those nobody is in, goes first.
 */
import { MAX_KEPT_HISTORIES } from './rules.js';

export class RoomHistories {
  private readonly histories = new Map<string, string[]>();

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
      history = [];
      this.histories.set(room, history);
      if (this.histories.size > MAX_KEPT_HISTORIES) this.forgetOldest();
    }
    history.push(line);
    if (history.length > this.linesPerRoom) history.shift();
  }

  /** The lines kept for `room`, oldest first. */
  of(room: string): readonly string[] {
    return this.histories.get(room) ?? [];
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
