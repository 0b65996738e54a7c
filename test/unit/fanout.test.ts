/**
 * Fanout over a fake sink that records what each member is handed: shared
 * buffers, senders' own lines cut out, and the join/leave ordering.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/contracts.js';
import { Fanout, MAX_NOTICE_WAIT_MS, noticeWaitMs, PendingGroups, type FanoutSink } from '../../src/parent/fanout.js';

class FakeSink implements FanoutSink {
  readonly enqueued: { connection: Connection; data: Buffer }[] = [];
  readonly pendings: Fanout[] = [];

  enqueue(connection: Connection, data: Buffer): void {
    this.enqueued.push({ connection, data });
  }
  pending(group: Fanout): void {
    this.pendings.push(group);
  }

  /** The pieces `connection` was handed, as strings, in order. */
  pieces(connection: Connection): string[] {
    return this.enqueued.filter((e) => e.connection === connection).map((e) => e.data.toString());
  }

  /** Everything `connection` was handed, joined. */
  share(connection: Connection): Buffer {
    return Buffer.concat(this.enqueued.filter((e) => e.connection === connection).map((e) => e.data));
  }
}

let nextPid = 100;
function connection(): Connection {
  const pid = nextPid++;
  return { pid, fd: pid, address: '127.0.0.1', port: pid, lastActive: 0 };
}

/** A group with `count` members over a fresh sink. */
function setup(count: number): { sink: FakeSink; group: Fanout; members: Connection[] } {
  const sink = new FakeSink();
  const group = new Fanout(sink);
  const members = Array.from({ length: count }, connection);
  for (const member of members) group.add(member);
  return { sink, group, members };
}

const line = (text: string): Buffer => Buffer.from(text);

describe('Fanout#send()', () => {
  it('hands one line to every member as the very same Buffer', () => {
    const { sink, group, members } = setup(4);
    const data = line('hello\r\n');
    group.send(data);
    group.flush();
    expect(sink.enqueued).toHaveLength(4);
    expect(sink.enqueued.map((e) => e.connection)).toEqual(members);
    for (const e of sink.enqueued) expect(e.data).toBe(data);
  });

  it('hands several lines to every non-sender as one shared Buffer of all of them', () => {
    const { sink, group, members } = setup(5);
    group.send(line('one\r\n'));
    group.send(line('two\r\n'));
    group.send(line('three\r\n'));
    group.flush();
    expect(sink.enqueued).toHaveLength(5);
    const batch = sink.enqueued[0]?.data;
    expect(batch?.toString()).toBe('one\r\ntwo\r\nthree\r\n');
    for (const e of sink.enqueued) expect(e.data).toBe(batch);
    expect(new Set(sink.enqueued.map((e) => e.connection))).toEqual(new Set(members));
  });

  it('leaves the sent buffers unchanged', () => {
    const { group } = setup(3);
    const a = line('abc');
    const b = line('def');
    group.send(a);
    group.send(b);
    group.flush();
    expect(a.toString()).toBe('abc');
    expect(b.toString()).toBe('def');
  });

  it("cuts a sender's own line out of its share", () => {
    const { sink, group, members } = setup(3);
    const [x, y, z] = members as [Connection, Connection, Connection];
    group.send(line('A'), x);
    group.flush();
    expect(sink.pieces(x)).toEqual([]);
    expect(sink.pieces(y)).toEqual(['A']);
    expect(sink.pieces(z)).toEqual(['A']);
  });

  it("cuts each of several interleaved senders' lines out of its own share only", () => {
    const { sink, group, members } = setup(3);
    const [x, y, z] = members as [Connection, Connection, Connection];
    group.send(line('A'), x);
    group.send(line('B'), y);
    group.send(line('C'), x);
    group.send(line('D'));
    group.flush();
    expect(sink.pieces(x)).toEqual(['B', 'D']);
    expect(sink.pieces(y)).toEqual(['A', 'CD']);
    expect(sink.pieces(z)).toEqual(['ABCD']);
  });

  it("cuts a sender's first and last lines and hands it the middle", () => {
    const { sink, group, members } = setup(2);
    const [x, y] = members as [Connection, Connection];
    group.send(line('first'), x);
    group.send(line('-mid1'), y);
    group.send(line('-mid2'));
    group.send(line('last'), x);
    group.flush();
    expect(sink.pieces(x)).toEqual(['-mid1-mid2']);
    expect(sink.pieces(y)).toEqual(['first', '-mid2last']);
  });

  it('hands one slice for consecutive lines between own lines', () => {
    const { sink, group, members } = setup(2);
    const [x, y] = members as [Connection, Connection];
    group.send(line('a'), x);
    group.send(line('b'), x);
    group.send(line('c'), y);
    group.send(line('d'), y);
    group.flush();
    expect(sink.pieces(x)).toEqual(['cd']);
    expect(sink.pieces(y)).toEqual(['ab']);
  });

  it('hands a member that sent every line nothing at all, not an empty buffer', () => {
    const { sink, group, members } = setup(2);
    const [x, y] = members as [Connection, Connection];
    group.send(line('a'), x);
    group.send(line('b'), x);
    group.flush();
    expect(sink.enqueued.filter((e) => e.connection === x)).toEqual([]);
    expect(sink.pieces(y)).toEqual(['ab']);
  });

  it('hands senders views into the shared buffer, not copies', () => {
    const { sink, group, members } = setup(3);
    const [x, y, z] = members as [Connection, Connection, Connection];
    group.send(line('A'), x);
    group.send(line('B'), y);
    group.send(line('C'));
    group.flush();
    const batch = sink.enqueued.find((e) => e.connection === z)?.data as Buffer;
    expect(batch.toString()).toBe('ABC');
    const slices = sink.enqueued.filter((e) => e.connection !== z).map((e) => e.data);
    expect(slices.map((s) => s.toString())).toEqual(['BC', 'A', 'C']);
    for (const slice of slices) {
      expect(slice.buffer).toBe(batch.buffer);
      expect(slice.byteOffset).toBeGreaterThanOrEqual(batch.byteOffset);
      expect(slice.byteOffset + slice.length).toBeLessThanOrEqual(batch.byteOffset + batch.length);
    }
  });

  it('sends everything to everyone when the one excepted is not a member', () => {
    const { sink, group, members } = setup(2);
    const outsider = connection();
    group.send(line('a'), outsider);
    group.flush();
    for (const member of members) expect(sink.pieces(member)).toEqual(['a']);
    expect(sink.pieces(outsider)).toEqual([]);
  });

  it('sends nothing, and asks for no flush, for empty data', () => {
    const { sink, group } = setup(3);
    group.send(Buffer.alloc(0));
    group.flush();
    expect(sink.pendings).toEqual([]);
    expect(sink.enqueued).toEqual([]);
  });

  it('sends nothing to an empty group, not even to members who come later', () => {
    const sink = new FakeSink();
    const group = new Fanout(sink);
    group.send(line('into the void'));
    expect(sink.pendings).toEqual([]);
    const late = connection();
    group.add(late);
    group.flush();
    expect(sink.enqueued).toEqual([]);
  });

  it('keeps the order of lines across batches', () => {
    const { sink, group, members } = setup(1);
    const [x] = members as [Connection];
    group.send(line('1'));
    group.send(line('2'));
    group.flush();
    group.send(line('3'));
    group.flush();
    expect(sink.pieces(x)).toEqual(['12', '3']);
  });
});

describe('Fanout#flush()', () => {
  it('hands out nothing when nothing is queued, and nothing twice', () => {
    const { sink, group } = setup(2);
    group.flush();
    expect(sink.enqueued).toEqual([]);
    group.send(line('x'));
    group.flush();
    group.flush();
    expect(sink.enqueued).toHaveLength(2);
  });

  it('calls pending() once per batch, with the group', () => {
    const { sink, group } = setup(2);
    group.send(line('a'));
    group.send(line('b'));
    group.send(line('c'));
    expect(sink.pendings).toEqual([group]);
    expect(sink.enqueued).toEqual([]);
    group.flush();
    group.send(line('d'));
    expect(sink.pendings).toEqual([group, group]);
  });
});

describe('Fanout#add()', () => {
  it('does not give a newcomer lines sent before it joined', () => {
    const { sink, group, members } = setup(2);
    const [x, y] = members as [Connection, Connection];
    group.send(line('before'), x);
    const late = connection();
    group.add(late);
    group.send(line('after'));
    group.flush();
    expect(sink.share(late).toString()).toBe('after');
    expect(sink.share(x).toString()).toBe('after');
    expect(sink.share(y).toString()).toBe('beforeafter');
  });

  it('hands nothing out at a join: the members already there get the earlier lines at the flush', () => {
    const { sink, group, members } = setup(1);
    const [x] = members as [Connection];
    group.send(line('before'));
    const late = connection();
    group.add(late);
    expect(sink.enqueued).toEqual([]);
    group.flush();
    expect(sink.share(x).toString()).toBe('before');
    expect(sink.share(late).toString()).toBe('');
  });
});

describe('Fanout#remove()', () => {
  it('still gives a leaver the lines sent before it left, and none after', () => {
    const { sink, group, members } = setup(2);
    const [x, y] = members as [Connection, Connection];
    group.send(line('before'));
    group.remove(x);
    group.send(line('after'));
    group.flush();
    expect(sink.share(x).toString()).toBe('before');
    expect(sink.share(y).toString()).toBe('beforeafter');
  });

  it("still cuts a leaver's own lines sent before it left", () => {
    const { sink, group, members } = setup(2);
    const [x, y] = members as [Connection, Connection];
    group.send(line('mine'), x);
    group.send(line('theirs'), y);
    group.remove(x);
    expect(sink.share(x).toString()).toBe('theirs'); // handed at the leave
    expect(sink.share(y).toString()).toBe('');
    group.flush();
    expect(sink.share(x).toString()).toBe('theirs');
    expect(sink.share(y).toString()).toBe('mine');
  });
});

describe('Fanout#handTo()', () => {
  it('hands one member its share now, and the flush does not hand it again', () => {
    const { sink, group, members } = setup(3);
    const [x, y, z] = members as [Connection, Connection, Connection];
    group.send(line('a'), y);
    group.send(line('b'), x);
    group.handTo(x);
    expect(sink.share(x).toString()).toBe('a');
    expect(sink.share(y).toString()).toBe('');
    group.send(line('c'));
    group.flush();
    expect(sink.share(x).toString()).toBe('ac');
    expect(sink.share(y).toString()).toBe('bc');
    expect(sink.share(z).toString()).toBe('abc');
  });

  it('hands a newcomer nothing queued before it joined, and a non-member nothing', () => {
    const { sink, group } = setup(1);
    group.send(line('before'));
    const late = connection();
    group.add(late);
    group.handTo(late);
    group.handTo(connection());
    expect(sink.enqueued).toEqual([]);
  });
});

describe('Fanout#urgent', () => {
  it('is false while only notices wait, true once a line does, false again after the flush', () => {
    const { group } = setup(2);
    expect(group.urgent).toBe(false);
    group.send(line('*** x joined'), null, true);
    expect(group.urgent).toBe(false);
    group.send(line('hello'));
    expect(group.urgent).toBe(true);
    group.flush();
    expect(group.urgent).toBe(false);
  });
});

describe('PendingGroups', () => {
  it('flushes a group with a line at once, and one with only notices once they have waited noticeWaitMs(its size)', () => {
    const pending = new PendingGroups();
    const { sink, group: room, members } = setup(100);
    const { sink: otherSink, group: talk } = setup(3);
    const [x] = members as [Connection];
    room.send(line('*** a joined'), null, true);
    pending.add(room, 1000);
    talk.send(line('hello'));
    pending.add(talk, 1000);
    expect(pending.dueInMs(1000)).toBe(0); // the line is due now
    pending.flushDue(1000);
    expect(otherSink.enqueued).toHaveLength(3);
    expect(sink.enqueued).toEqual([]);
    const wait = noticeWaitMs(100);
    expect(wait).toBeGreaterThan(0);
    expect(pending.dueInMs(1000)).toBeCloseTo(wait);
    room.send(line('*** b joined'), null, true);
    pending.add(room, 1000 + wait / 2); // not a new wait: the first notice's stands
    pending.flushDue(1000 + wait / 2);
    expect(sink.enqueued).toEqual([]);
    expect(pending.dueInMs(1000 + wait / 2)).toBeCloseTo(wait / 2);
    pending.flushDue(1000 + wait);
    expect(sink.share(x).toString()).toBe('*** a joined*** b joined');
    expect(pending.dueInMs(1000 + wait)).toBe(Infinity);
  });

  it('flushes waiting notices with the next line, in order', () => {
    const pending = new PendingGroups();
    const { sink, group, members } = setup(100);
    const [x, y] = members as [Connection, Connection];
    group.send(line('*** a joined '), null, true);
    pending.add(group, 0);
    group.send(line('<y> hi'), y);
    pending.add(group, 0);
    pending.flushDue(0);
    expect(sink.share(x).toString()).toBe('*** a joined <y> hi');
    expect(sink.share(y).toString()).toBe('*** a joined ');
  });

  it("hands one connection its share of every waiting group, and the groups' flush does not repeat it", () => {
    const pending = new PendingGroups();
    const { sink, group, members } = setup(3);
    const [x, y] = members as [Connection, Connection];
    group.send(line('*** a joined'), null, true);
    pending.add(group, 0);
    pending.handTo(x);
    expect(sink.share(x).toString()).toBe('*** a joined');
    expect(sink.share(y).toString()).toBe('');
    pending.flushDue(MAX_NOTICE_WAIT_MS);
    expect(sink.share(x).toString()).toBe('*** a joined');
    expect(sink.share(y).toString()).toBe('*** a joined');
  });

  it('waits 20 µs per member, at most MAX_NOTICE_WAIT_MS, and not at all for an empty group', () => {
    expect(noticeWaitMs(0)).toBe(0);
    expect(noticeWaitMs(50)).toBeCloseTo(1);
    expect(noticeWaitMs(5000)).toBeCloseTo(100);
    expect(noticeWaitMs(1_000_000)).toBe(MAX_NOTICE_WAIT_MS);
  });
});

describe('Fanout (property)', () => {
  it("hands every member exactly the lines not sent by it, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('send' as const), from: fc.integer({ min: -1, max: 5 }), data: fc.uint8Array({ maxLength: 12 }) }),
            fc.constant({ op: 'flush' as const }),
          ),
          { maxLength: 60 },
        ),
        (count, ops) => {
          const { sink, group, members } = setup(count);
          const expected = new Map(members.map((m) => [m, [] as Buffer[]]));
          for (const step of ops) {
            if (step.op === 'flush') {
              group.flush();
              continue;
            }
            const from = step.from < 0 ? null : (members[step.from % count] as Connection);
            const data = Buffer.from(step.data);
            group.send(data, from);
            for (const [member, lines] of expected) if (member !== from) lines.push(data);
          }
          group.flush();
          for (const [member, lines] of expected) expect(sink.share(member).equals(Buffer.concat(lines))).toBe(true);
          expect(sink.enqueued.every((e) => e.data.length > 0)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('hands every member the lines sent while it was a member and not by it, with joins and leaves', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('send' as const), from: fc.integer({ min: -1, max: 5 }), data: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
            fc.record({ op: fc.constant('add' as const), who: fc.nat(5) }),
            fc.record({ op: fc.constant('remove' as const), who: fc.nat(5) }),
            fc.record({ op: fc.constant('handTo' as const), who: fc.nat(5) }),
            fc.constant({ op: 'flush' as const }),
          ),
          { maxLength: 80 },
        ),
        (ops) => {
          const sink = new FakeSink();
          const group = new Fanout(sink);
          const people = Array.from({ length: 6 }, connection);
          const inside = new Set<Connection>();
          const expected = new Map(people.map((p) => [p, [] as Buffer[]]));
          for (const step of ops) {
            if (step.op === 'flush') group.flush();
            else if (step.op === 'add') {
              const who = people[step.who] as Connection;
              group.add(who);
              inside.add(who);
            } else if (step.op === 'remove') {
              const who = people[step.who] as Connection;
              group.remove(who);
              inside.delete(who);
            } else if (step.op === 'handTo') {
              group.handTo(people[step.who] as Connection);
            } else {
              const from = step.from < 0 ? null : (people[step.from] as Connection);
              const data = Buffer.from(step.data);
              group.send(data, from);
              for (const member of inside) if (member !== from) expected.get(member)?.push(data);
            }
          }
          group.flush();
          for (const [person, lines] of expected) expect(sink.share(person).equals(Buffer.concat(lines))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
