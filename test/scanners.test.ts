/**
 * What a public telnet port meets all day, seen from the room: port scanners and
 * plain TCP checks that connect and go at once, web browsers and HTTP scanners, TLS and
 * SSH clients. None of them may show up in the chat.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connect, join, person } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { startServer, stopAllServers } from './helpers/server.js';

afterEach(async () => {
  closeClients();
  await stopAllServers();
});

describe('a public telnet port', () => {
  it('keeps connections that come and go at once, HTTP requests, TLS handshakes and SSH clients out of the room', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');

    // A port scanner, or a balancer's plain TCP check: connects, and closes once it is in.
    const scanner = await join(server);
    scanner.close();

    const foreign: [string, Buffer][] = [
      ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: chat.example.org\r\nUser-Agent: scanner\r\n\r\n')],
      ['a TLS handshake', Buffer.from('16030100a5010000a10303', 'hex')],
      ['an SSH client', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')],
    ];
    for (const [what, bytes] of foreign) {
      const client = await connect(server);
      client.send(bytes); // at once, as scanners do: refused well within QUIET_ARRIVAL_MS
      await client.waitFor(`*** Disconnected: not a telnet client: ${what}.`);
      await client.waitForClose();
      await server.waitForLog(new RegExp(`WARN {2}disconnect .*: kicked \\(not a telnet client: ${what}\\)`));
    }
    await pollUntil(() => (server.stderr().match(/INFO {2}disconnect /g) ?? []).length >= 1, 5_000, 'the scanner to be gone');

    // Someone real comes, and speaks: the room hears of them, and of nobody before them.
    const bob = await join(server);
    bob.send('hello\r\n');
    await alice.waitFor(/<guest-\d+> hello/);
    expect(alice.lines().filter((line) => / (joined|left) /.test(line))).toEqual([expect.stringMatching(/\*\*\* guest-\d+ joined #lobby$/)]);
    expect(alice.text).not.toMatch(/GET|Host:|SSH-|User-Agent|left/);
  });

  it('waits for the rest of a request, a handshake or a greeting that starts in a segment of its own', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const split: [string, Buffer, Buffer][] = [
      ['an HTTP request', Buffer.from('GE'), Buffer.from('T / HTTP/1.1\r\nHost: chat.example.org\r\n\r\n')],
      ['an SSH client', Buffer.from('SSH'), Buffer.from('-2.0-OpenSSH_9.2\r\n')],
      ['a TLS handshake', Buffer.from('16', 'hex'), Buffer.from('0301', 'hex')],
    ];
    for (const [what, first, rest] of split) {
      const client = await connect(server);
      client.send(first);
      // Its child has the connection once the welcome comes, and has looked at the first piece alone by then.
      await client.waitFor('Type /help');
      client.send(rest);
      await client.waitFor(`*** Disconnected: not a telnet client: ${what}.`);
      await client.waitForClose();
    }
    const bob = await join(server);
    bob.send('hello\r\n');
    await alice.waitFor(/<guest-\d+> hello/);
    expect(alice.text).not.toMatch(/GE|SSH|Host:/);
  });

  it('tells the room about a newcomer who says nothing once it has stayed a moment, and then about its leaving', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const quiet = await connect(server);
    await quiet.waitFor('Type /help');
    await alice.waitFor(/\*\*\* guest-\d+ joined #lobby/, 10_000);
    quiet.close();
    await alice.waitFor(/\*\*\* guest-\d+ left \(connection closed\)/);
  });
});
