/**
 * The web port end to end: a real server process, WebSocket clients (`ws`, and frames
 * written by hand on raw sockets) and a raw TCP client on the telnet port. Lines cross
 * both ways; the protocol's edges close with the right codes; nothing a web client
 * sends reaches a telnet client as a control byte.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { startServer, stopAllServers, type RunningServer } from './helpers/server.js';
import { clientFrame, rawWebSocket, serverClose, webPortOf } from './helpers/websocket.js';

afterEach(stopAllServers);

interface Web {
  server: RunningServer;
  web: number;
  /** A telnet-port client that has seen its welcome. */
  telnet: TestClient;
}

async function startWeb(args: string[] = []): Promise<Web> {
  const server = await startServer(['--web-port', '0', '--rate-limit', '0', ...args]);
  const telnet = await TestClient.connect(server.port);
  if (!args.includes('--classic')) await telnet.waitFor('Type /help'); // --classic greets nobody
  return { server, web: webPortOf(server.stdout()), telnet };
}

/** A `ws` client with everything it received as text; resolves once it is open. */
async function openWs(port: number, options: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; text: () => string; closed: () => [number, string] | null }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, options);
  let text = '';
  let closed: [number, string] | null = null;
  ws.on('message', (data: Buffer) => (text += data.toString('utf8')));
  ws.on('close', (code, reason) => (closed = [code, reason.toString()]));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
  });
  await pollUntil(() => text.includes('Type /help'), 5000, 'the welcome');
  return { ws, text: () => text, closed: () => closed };
}

describe('the web port', () => {
  it('carries lines both ways between a WebSocket and a telnet client', async () => {
    const { web, telnet } = await startWeb();
    const client = await openWs(web);
    await telnet.waitFor(/\*\*\* guest-2 joined #lobby/, 10_000); // before it says anything: QUIET_ARRIVAL_MS
    client.ws.send('hello from the web');
    await telnet.waitFor('<guest-2> hello from the web\r\n');
    telnet.send('hello from telnet\r\n');
    await pollUntil(() => client.text().includes('<guest-1> hello from telnet\r\n'), 5000, 'the telnet line on the web');
    expect(client.text()).toMatch(/^\*\*\* Welcome to posix-chat, guest-2! You are in #lobby\.\r\n/);
  });

  it('takes a message in fragments as one line, and a message with line ends as lines', async () => {
    const { web, telnet } = await startWeb();
    const client = await openWs(web);
    client.ws.send('frag', { fin: false });
    client.ws.send('mented', { fin: true });
    client.ws.send('one\ntwo');
    await telnet.waitFor('<guest-2> two\r\n');
    expect(telnet.lines().filter((line) => line.includes('<guest-2>'))).toEqual([expect.stringMatching(/<guest-2> fragmented$/), expect.stringMatching(/<guest-2> one$/), expect.stringMatching(/<guest-2> two$/)]);
  });

  it('applies the same flood control as on the telnet port', async () => {
    const { web, telnet } = await startWeb(['--rate-limit', '2', '--rate-burst', '2']);
    const client = await openWs(web);
    for (let i = 0; i < 8; i++) client.ws.send(`line ${i}`);
    await pollUntil(() => client.text().includes('You are sending more than 2 lines a second: lines are being dropped.'), 5000, 'the warning');
    await telnet.waitFor('<guest-2> line 1\r\n');
    expect(telnet.text).not.toContain('line 7');
  });

  it('answers a ping with a pong', async () => {
    const { web } = await startWeb();
    const client = await openWs(web);
    const pong = new Promise<string>((resolve) => client.ws.once('pong', (data: Buffer) => resolve(data.toString())));
    client.ws.ping('are you there');
    expect(await pong).toBe('are you there');
  });

  it('lets nothing a web client sends reach a telnet client as a control byte', async () => {
    const { web, telnet } = await startWeb();
    const client = await openWs(web);
    client.ws.send('a\x1b[2Jb\x1b]0;title\x07c\x07d\x08\x9be\r\nclear\x1bc\u202ehidden');
    await telnet.waitFor('hidden\r\n');
    const bytes = telnet.received.subarray(telnet.received.indexOf('<guest-2>'));
    for (const byte of bytes) expect(byte === 0x0d || byte === 0x0a || (byte >= 0x20 && byte !== 0x7f)).toBe(true);
    // As from a telnet client: sequences, BEL, the erased d, a C1 CSI with its final byte and the bidi override gone.
    const said = telnet.lines().filter((line) => line.includes('<guest-2>')).map((line) => line.replace(/^\[\d\d:\d\d\] <guest-2> /, ''));
    expect(said).toEqual(['abc', 'clearhidden']);
  });

  it('closes the handshake with the client’s code, and the others hear it left', async () => {
    const { web, telnet } = await startWeb();
    const client = await openWs(web);
    client.ws.send('here I am');
    await telnet.waitFor('<guest-2> here I am');
    client.ws.close(4000, 'bye');
    await pollUntil(() => client.closed() !== null, 5000, 'the close');
    expect(client.closed()?.[0]).toBe(4000);
    await telnet.waitFor('*** guest-2 left (connection closed)');
  });

  it('closes with 1001 when the server stops', async () => {
    const { server, web } = await startWeb();
    const client = await openWs(web);
    server.proc.kill('SIGTERM');
    await pollUntil(() => client.closed() !== null, 5000, 'the close');
    expect(client.closed()?.[0]).toBe(1001);
    expect(client.text()).toContain('*** The server is shutting down. Goodbye!\r\n');
  });

  it('closes with 1009 on a message over its limit', async () => {
    const { web, telnet } = await startWeb();
    const client = await openWs(web);
    client.ws.send('here I am');
    await telnet.waitFor('<guest-2> here I am');
    client.ws.send('x'.repeat(20_000));
    await pollUntil(() => client.closed() !== null, 5000, 'the close');
    expect(client.closed()?.[0]).toBe(1009);
    await telnet.waitFor('*** guest-2 left');
    expect(telnet.text).not.toContain('xxxx');
  });

  it('closes with 1002 on an unmasked frame, and 1007 on text that is not UTF-8', async () => {
    const { web } = await startWeb();
    const unmasked = await rawWebSocket(web);
    await pollUntil(() => unmasked.frames().includes('Type /help'), 5000, 'the welcome');
    unmasked.client.send(clientFrame(0x1, 'hi', { masked: false }));
    await unmasked.client.waitForClose();
    expect(unmasked.frames().subarray(-4)).toEqual(serverClose(1002));

    const invalid = await rawWebSocket(web);
    invalid.client.send(clientFrame(0x1, Buffer.from([0x68, 0xc3, 0x28])));
    await invalid.client.waitForClose();
    expect(invalid.frames().subarray(-4)).toEqual(serverClose(1007));
  });

  it('refuses a page from another origin with 403, and lets in its own and the configured ones', async () => {
    const { web } = await startWeb();
    await expect(openWs(web, { origin: 'http://evil.example' })).rejects.toThrow('HTTP 403');
    await openWs(web, { origin: `http://127.0.0.1:${web}` });
    const configured = await startWeb(['--web-origin', 'https://chat.example.org']);
    await openWs(configured.web, { origin: 'https://chat.example.org' });
    await expect(openWs(configured.web, { origin: `http://127.0.0.1:${configured.web}` })).rejects.toThrow('HTTP 403');
  });

  it('answers garbage instead of HTTP with 400 and closes, and the chat never hears of it', async () => {
    const { web, telnet } = await startWeb();
    const garbage = await TestClient.connect(web);
    garbage.send(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00]));
    await garbage.waitForClose();
    expect(garbage.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const page = await TestClient.connect(web);
    page.send(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${web}\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: 127.0.0.1:${web}\r\n\r\n`);
    await page.waitForClose();
    expect(page.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*<!doctype html>[^]*HTTP\/1\.1 404 Not Found\r\n/);
    telnet.send('/who\r\n');
    await telnet.waitFor('1 person in #lobby');
    expect(telnet.text).not.toContain('joined');
  });

  it('counts web connections in --max-per-ip, answering 503 when full', async () => {
    const { web } = await startWeb(['--max-per-ip', '2']);
    const waiting = await TestClient.connect(web); // one fetching the page (the telnet client is the other)
    waiting.send('GET / HTTP/1.1\r\n');
    const refused = await TestClient.connect(web);
    await refused.waitForClose();
    expect(refused.text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*Too many connections from 127\.0\.0\.1/);
  });

  it('works without the zygote, and in --classic mode with binary frames', async () => {
    const { web, telnet } = await startWeb(['--no-zygote', '--classic']);
    const ws = new WebSocket(`ws://127.0.0.1:${web}/ws`);
    const got: [Buffer, boolean][] = [];
    ws.on('message', (data: Buffer, binary) => got.push([data, binary]));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('from the web'); // once the telnet client has it, the web client is in the chat
    await telnet.waitFor(/\(\d+\):from the web\n/);
    telnet.send(Buffer.from('caf\xe9\r\n', 'latin1')); // Latin-1: not UTF-8, passed on as it is in --classic
    await pollUntil(() => got.length > 0, 5000, 'the telnet line on the web');
    expect(got[0]?.[1]).toBe(true);
    expect(got[0]?.[0].includes(Buffer.from(':caf\xe9\n', 'latin1'))).toBe(true);
  });
});
