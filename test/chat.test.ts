import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_NAMES_ON_ENTRY } from '../src/chat/chat.js';
import { closeClients, connect, join, person, present } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { descriptors } from './helpers/processes.js';
import { startServer, stopAllServers } from './helpers/server.js';

afterEach(async () => {
  closeClients();
  await stopAllServers();
});

const STAMP = /^\[\d\d:\d\d\] /;

describe('chat: names', () => {
  it('greets a newcomer with a guest name, who is online and a pointer to /help, without a prompt', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const guest = await join(server);
    expect(guest.lines()).toEqual([
      expect.stringMatching(/^\*\*\* Welcome to posix-chat, guest-\d+! You are in #lobby\.$/),
      '*** Here with you: alice.',
      '*** Type /help for commands; /nick NAME to choose your name.',
      '*** Telnet is not encrypted: use a password you use nowhere else.',
    ]);
    // It says nothing, so the room hears of it QUIET_ARRIVAL_MS after it came.
    await alice.waitFor(/\*\*\* guest-\d+ joined #lobby/, 10_000);
  });

  it('lists at most MAX_NAMES_ON_ENTRY names to a newcomer in a big room, then how many more', async () => {
    const server = await startServer(['--max-per-ip', '0']);
    const crowd = MAX_NAMES_ON_ENTRY + 3;
    for (let i = 0; i < crowd; i++) await present(server);
    const newcomer = await join(server);
    const here = newcomer.lines().find((line) => line.startsWith('*** Here with you: ')) ?? '';
    const names = here.replace('*** Here with you: ', '').replace(/ and \d+ more.*$/, '').split(', ');
    expect(names).toHaveLength(MAX_NAMES_ON_ENTRY);
    expect(here).toMatch(/ and 3 more \(\/who lists everyone\)\.$/);
    newcomer.send('/who\r\n');
    await newcomer.waitFor(`${crowd + 1} people in #lobby:`);
  });

  it('--announce-up-to: a room with more others than that hears no joins or departures, and still hears what is said', async () => {
    const server = await startServer(['--announce-up-to', '1']);
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    await alice.waitFor('*** bob joined #lobby'); // one other: told
    const carol = await connect(server);
    carol.send('/nick carol\r\nhello from carol\r\n'); // two others would hear it: not told
    await alice.waitFor(/<carol> hello from carol/);
    bob.send('/quit\r\n'); // two others would hear it
    await bob.waitForClose();
    alice.send('/who\r\n');
    await alice.waitFor('*** 2 people in #lobby:');
    carol.send('/quit\r\n'); // one other: told
    await alice.waitFor(/\*\*\* carol left \(quit/);
    await alice.sync();
    expect(alice.lines().filter((line) => /carol joined|bob left/.test(line))).toEqual([]);
  });

  it('tells the room who joined before the newcomer speaks, even when the first line comes with the connection', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const bot = await connect(server);
    bot.send('hello at once\r\n'); // before the welcome: the server holds the notice for one loop turn
    await alice.waitFor(/<guest-\d+> hello at once/);
    const lines = alice.lines();
    const joined = lines.findIndex((line) => /\*\*\* guest-\d+ joined #lobby/.test(line));
    const said = lines.findIndex((line) => line.includes('hello at once'));
    expect(joined).toBeGreaterThan(-1);
    expect(joined).toBeLessThan(said);
    await bot.waitFor('Type /help'); // and the newcomer still got its welcome
  });

  it('shows the first client a fresh chat: the start-up rehearsal leaves no name, line, room or socket behind', async () => {
    const server = await startServer(); // history on, as by default
    const sockets = (): string[] =>
      descriptors(server.pid).map(({ target }) => target).filter((target) => target.startsWith('socket:') || target.startsWith('pipe:'));
    const idle = sockets().length;
    const first = await join(server);
    expect(first.lines()).toEqual([
      '*** Welcome to posix-chat, guest-1! You are in #lobby.',
      '*** Nobody else is here yet.',
      '*** Type /help for commands; /nick NAME to choose your name.',
      '*** Telnet is not encrypted: use a password you use nowhere else.',
    ]);
    first.send('/rooms\r\n');
    await first.waitFor(/#lobby/);
    first.send('/who *\r\n');
    await first.waitFor('1 person online:');
    await first.sync();
    expect(first.text).not.toMatch(/rehears|hello there|guest-[2-9]/);
    // One more: its socket in the parent, and nothing the rehearsal opened.
    expect(sockets().length).toBe(idle + 1);
  });

  it('renames, tells the room, and refuses a name taken in another case or invalid', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const other = await join(server);
    other.send('/nick ALICE\r\n');
    await other.waitFor('The name ALICE is taken.');
    other.send('/nick 9lives\r\n');
    await other.waitFor('A name starts with a letter');
    other.send(`/nick ${'x'.repeat(17)}\r\n`);
    await other.waitFor('at most 16 characters');
    other.send('/nick bob\r\n');
    await alice.waitFor(/\*\*\* guest-\d+ is now known as bob/);
    expect(alice.text).not.toContain('ALICE');
  });
});

describe('chat: talking', () => {
  it('sends a line to the others in the room as [HH:MM] <nick> text, not back to the sender', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    alice.send('hello, bob\r\n');
    await bob.waitFor('<alice> hello, bob');
    expect(bob.lines().find((line) => line.includes('<alice>'))).toMatch(STAMP);
    await alice.sync(); // her line went out before the server read this: an echo would be here
    expect(alice.text).not.toContain('<alice>');
  });

  it('does /me, /msg across rooms, /who with idle times and /who *', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    alice.send('/me waves\r\n');
    await bob.waitFor(/\[\d\d:\d\d\] \* alice waves/);
    bob.send('/join #games\r\n');
    await bob.waitFor('You are now in #games.');
    alice.send('/msg BOB psst, over here\r\n');
    await bob.waitFor(/\*alice\* psst, over here/);
    await alice.waitFor(/-> \*bob\* psst, over here/);
    alice.send('/who\r\n');
    await alice.waitFor('1 person in #lobby:');
    await alice.waitFor(/ {2}alice +idle \d+s \(you\)/);
    alice.send('/who *\r\n');
    await alice.waitFor('2 people online:');
    await alice.waitFor(/ {2}bob +#games idle \d+s/);
    alice.send('/msg nobody hi\r\n');
    await alice.waitFor('Nobody called nobody is online.');
  });

  it('keeps public lines, /me and join/leave notices inside the room', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    const carol = await person(server, 'carol');
    bob.send('/join #games\r\n');
    await alice.waitFor('*** bob left for #games');
    carol.send('/join #games\r\n');
    await bob.waitFor('*** carol joined #games');
    bob.send('in games only\r\n');
    await carol.waitFor('<bob> in games only');
    alice.send('in the lobby only\r\n');
    alice.send('/rooms\r\n');
    await alice.waitFor('Rooms: #games (2), #lobby (1)');
    bob.send('/join #lobby\r\n');
    await alice.waitFor('*** bob joined #lobby');
    await bob.waitFor('<alice> in the lobby only'); // history of the room he came back to
    await alice.sync();
    await carol.sync();
    expect(alice.text).not.toContain('in games only');
    expect(carol.text).not.toContain('<alice> in the lobby only');
    expect(alice.text).not.toContain('carol joined #games');
  });

  it('shows a newcomer the room\'s last lines (--history N), and none with --history 0', async () => {
    const server = await startServer(['--history', '3']);
    const alice = await person(server, 'alice');
    for (let i = 1; i <= 5; i++) alice.send(`line ${i}\r\n`);
    alice.send('/me is done\r\n');
    await alice.sync(); // her lines are read in order: all of them are in the history now
    const late = await join(server);
    await late.waitFor('* alice is done');
    const shown = late.lines().filter((line) => STAMP.test(line));
    expect(shown.map((line) => line.replace(STAMP, ''))).toEqual(['<alice> line 4', '<alice> line 5', '* alice is done']);

    const quiet = await startServer(['--history', '0']);
    const someone = await person(quiet, 'alice');
    someone.send('nobody will see this later\r\n');
    await someone.sync();
    const newcomer = await join(quiet);
    await newcomer.sync();
    expect(newcomer.text).not.toContain('nobody will see this later');
  });

  it('answers an unknown command to its sender only', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    alice.send('/frobnicate now\r\n');
    await alice.waitFor('Unknown command /frobnicate. Type /help for the list.');
    alice.send('//not a command\r\n');
    await bob.waitFor('<alice> /not a command');
    expect(bob.text).not.toContain('frobnicate');
  });

  it('lists every command in /help', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    alice.send('/help\r\n');
    await alice.waitFor('/help             this list');
    for (const command of ['/nick', '/who', '/who *', '/me', '/msg', '/join', '/rooms', '/quit']) expect(alice.text).toContain(`  ${command} `);
  });

  it('says goodbye on /quit and tells the room the reason', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    alice.send('/quit off to lunch\r\n');
    await alice.waitFor('*** Goodbye!');
    await alice.waitForClose();
    await bob.waitFor('*** alice left (quit: off to lunch)');
    const carol = await person(server, 'carol');
    carol.close();
    await bob.waitFor('*** carol left (connection closed)');
  });

  it('tells the room when a member\'s connection is lost', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    await person(server, 'bob');
    // bob's is the second connect line; the log may reach us a little after his welcome.
    const connects = (): RegExpMatchArray[] => [...server.stderr().matchAll(/connect 127\.0\.0\.1:\d+ \(pid (\d+)\)/g)];
    await pollUntil(() => connects().length === 2, 2_000, 'both connect log lines');
    const pid = Number(connects()[1]?.[1]);
    process.kill(pid, 'SIGKILL');
    await alice.waitFor('*** bob left (connection lost)');
  });
});

describe('chat: safe text', () => {
  it('lets no escape sequence or control byte from one client reach another', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const mallory = await person(server, 'mallory');
    const attack = 'hi\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[31mred\x1b[0m\x07\x08\x08\x9b31m\u202eevil\x1bc end\r\n';
    mallory.send(Buffer.from(attack, 'utf8'));
    await alice.waitFor('<mallory>');
    await alice.waitFor(' end');
    const line = alice.lines().find((l) => l.includes('<mallory>')) ?? '';
    // "red" lost two letters to the backspaces; every sequence went whole, parameters and all.
    expect(line.replace(STAMP, '')).toBe('<mallory> hirevil end');
    // Nothing but printable text and the CR LF line ends anywhere in what alice received.
    expect(alice.received.toString('utf8').replace(/\r\n/g, '')).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/u);
  });

  it('cuts a line over --max-line with a notice to its sender only, never in two', async () => {
    const server = await startServer(['--max-line', '20']);
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    alice.send(`${'ab'.repeat(30)}\r\nshort\r\n`);
    await alice.waitFor('*** Your line was longer than 20 bytes and was cut.');
    await bob.waitFor('<alice> short');
    const said = bob.lines().filter((line) => line.includes('<alice>')).map((line) => line.replace(STAMP, ''));
    expect(said).toEqual([`<alice> ${'ab'.repeat(10)}`, '<alice> short']);
    expect(bob.text).not.toContain('was cut');
  });
});

describe('chat: options', () => {
  it('leaves timestamps out with --no-timestamps and shows a --motd file', async () => {
    const motd = path.join(tmpdir(), `posix-chat-motd-${process.pid}.txt`);
    writeFileSync(motd, 'Be nice.\nNo spam.\x1b[2J\n');
    const server = await startServer(['--no-timestamps', '--motd', motd]);
    const alice = await person(server, 'alice');
    expect(alice.lines()).toContain('*** Be nice.');
    expect(alice.lines()).toContain('*** No spam.');
    const bob = await person(server, 'bob');
    alice.send('plain\r\n');
    await bob.waitFor('<alice> plain');
    expect(bob.lines()).toContain('<alice> plain');
  });

  it('--classic keeps the seed\'s format: [ADDRESS] (PID):DATA, no commands', async () => {
    const server = await startServer(['--classic']);
    const a = await connect(server);
    const b = await connect(server);
    await a.waitFor(/^\[127\.0\.0\.1\] \(\d+\):Connected$/m);
    b.send('/nick bob\r\n');
    await a.waitFor(/^\[127\.0\.0\.1\] \(\d+\):\/nick bob$/m);
    expect(b.text).toBe('');
  });
});
