/**
 * Telnet option negotiation over a real TCP connection: the server starts none, refuses
 * every option a client offers or asks for (so the client stays in its line-by-line mode
 * with local echo), answers each once, and keeps the negotiation out of the chat.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, join, TestClient } from './helpers/client.js';
import { startServer, stopAllServers } from './helpers/server.js';

const IAC = 255;
const [WILL, WONT, DO, DONT] = [251, 252, 253, 254];
const [ECHO, SGA, TIMING_MARK, TTYPE, NAWS] = [1, 3, 6, 24, 31];

afterEach(async () => {
  closeClients();
  await stopAllServers();
});

/** Every IAC verb option triple the server sent, in order. */
function negotiation(client: TestClient): number[][] {
  const bytes = client.received;
  const found: number[][] = [];
  for (let i = bytes.indexOf(IAC); i !== -1 && i + 2 < bytes.length; i = bytes.indexOf(IAC, i + 1)) {
    const verb = bytes[i + 1] as number;
    if (verb >= WILL && verb <= DONT) found.push([IAC, verb, bytes[i + 2] as number]);
  }
  return found;
}

describe('telnet negotiation over TCP', () => {
  it('starts none, refuses what a client offers or asks (WILL -> DONT, DO -> WONT) once each, leaves ECHO to the parent, and passes the line on clean', async () => {
    const server = await startServer();
    const alice = await join(server);
    const client = await join(server);
    expect(negotiation(client)).toEqual([]); // nothing of its own in the greeting
    const offers = Buffer.from([IAC, WILL, NAWS, IAC, WILL, TTYPE, IAC, DO, ECHO, IAC, DO, SGA]);
    client.send(offers);
    client.send(Buffer.concat([offers, Buffer.from('after the negotiation\r\n')])); // asked again: no second answer
    await alice.waitFor(/<guest-\d+> after the negotiation\r\n/);
    await client.sync(); // every answer went out before this command's
    // DO ECHO gets no answer: ECHO is the parent's to offer (IAC WILL ECHO while a password
    // is typed), and the child refusing the client's DO would turn the echo back on.
    expect(negotiation(client)).toEqual([
      [IAC, DONT, NAWS],
      [IAC, DONT, TTYPE],
      [IAC, WONT, SGA],
    ]);
    expect(negotiation(alice)).toEqual([]);
    expect(alice.lines().filter((line) => line.includes('after the negotiation'))).toEqual([expect.stringMatching(/^\[\d\d:\d\d\] <guest-\d+> after the negotiation$/)]);
  });

  it('does not answer WONT and DONT, so two refusing ends never loop', async () => {
    const server = await startServer();
    const client = await join(server);
    client.send(Buffer.from([IAC, WONT, ECHO, IAC, DONT, SGA, IAC, WONT, NAWS]));
    await client.sync();
    expect(negotiation(client)).toEqual([]);
  });

  it('answers DO TIMING-MARK each time it is asked', async () => {
    const server = await startServer();
    const client = await join(server);
    const mark = Buffer.from([IAC, DO, TIMING_MARK]);
    client.send(mark);
    await client.sync();
    client.send(mark);
    await client.sync();
    // WONT or WILL both tell the client its mark was reached (RFC 860); it must come each time.
    const answers = negotiation(client);
    expect(answers).toHaveLength(2);
    for (const answer of answers) expect([[IAC, WONT, TIMING_MARK], [IAC, WILL, TIMING_MARK]]).toContainEqual(answer);
  });

  it('skips a long subnegotiation sent in two writes, and the line after it arrives', async () => {
    const server = await startServer();
    const alice = await join(server);
    const client = await join(server);
    const sub = Buffer.concat([Buffer.from([IAC, 250, TTYPE, 0]), Buffer.from('xterm-256color'.repeat(300)), Buffer.from([IAC, 240])]);
    client.send(sub.subarray(0, 5));
    client.send(Buffer.concat([sub.subarray(5), Buffer.from('after the subnegotiation\r\n')]));
    await alice.waitFor(/<guest-\d+> after the subnegotiation\r\n/);
    expect(alice.text).not.toContain('xterm');
  });
});
