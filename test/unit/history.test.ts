import { describe, expect, it } from 'vitest';
import { RoomHistories } from '../../src/chat/history.js';
import { MAX_KEPT_HISTORIES } from '../../src/chat/rules.js';

/** Lines 'ROOM from' .. 'ROOM from+count-1' remembered in `room`. */
function say(histories: RoomHistories, room: string, count: number, from = 0): void {
  for (let i = from; i < from + count; i++) histories.remember(room, `${room} ${i}`);
}

describe('RoomHistories', () => {
  it('keeps the last lines of a room, oldest first, as new ones push the oldest out', () => {
    const histories = new RoomHistories(3, () => true);
    expect(histories.of('#a')).toEqual([]);
    say(histories, '#a', 2);
    expect(histories.of('#a')).toEqual(['#a 0', '#a 1']);
    for (let last = 2; last < 10; last++) {
      say(histories, '#a', 1, last);
      expect(histories.of('#a')).toEqual([`#a ${last - 2}`, `#a ${last - 1}`, `#a ${last}`]);
    }
  });

  it('keeps each room apart, and none when the length is 0', () => {
    const histories = new RoomHistories(2, () => true);
    say(histories, '#a', 3);
    say(histories, '#b', 1);
    expect(histories.of('#a')).toEqual(['#a 1', '#a 2']);
    expect(histories.of('#b')).toEqual(['#b 0']);
    const none = new RoomHistories(0, () => true);
    say(none, '#a', 3);
    expect(none.of('#a')).toEqual([]);
  });

  it('past MAX_KEPT_HISTORIES rooms, drops the first that nobody is in', () => {
    const histories = new RoomHistories(1, (room) => room === '#r0');
    for (let i = 0; i <= MAX_KEPT_HISTORIES; i++) say(histories, `#r${i}`, 1);
    expect(histories.of('#r0')).toEqual(['#r0 0']); // in use: kept
    expect(histories.of('#r1')).toEqual([]); // the first nobody is in: dropped
    expect(histories.of('#r2')).toEqual(['#r2 0']);
    expect(histories.of(`#r${MAX_KEPT_HISTORIES}`)).toEqual([`#r${MAX_KEPT_HISTORIES} 0`]);
  });
});
