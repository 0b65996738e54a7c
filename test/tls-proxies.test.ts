/**
 * Real proxies in front of the telnet port: HAProxy with send-proxy (PROXY v1) and
 * send-proxy-v2, the HAProxy and stunnel configurations of examples/tls/ (the ones
 * docs/deploy.md shows) doing TLS, and clients from different loopback addresses
 * (127.0.0.3, ...), so the address the server reports can only have come from the
 * PROXY header. Clients that talk to the server directly come from 127.0.0.2: the
 * proxies' 127.0.0.1 is trusted, and must send a header.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { freePort } from './helpers/ports.js';
import { fromExample, haveTool, makeWorkspace, startProxy, TlsClient, type RunningProxy, type Workspace } from './helpers/proxies.js';
import { ROOT, startServer, stopAllServers } from './helpers/server.js';
import { webPortOf } from './helpers/websocket.js';

const HAVE_HAPROXY = haveTool('haproxy', ['-v'], 'haproxy');
const HAVE_STUNNEL = haveTool('stunnel', ['-version'], 'stunnel4');
const HAVE_OPENSSL = haveTool('openssl', ['version'], 'openssl');

const TRUSTED = ['--proxy-protocol', '--trusted-proxy', '127.0.0.1'];
let workspace: Workspace | undefined;
const proxies: RunningProxy[] = [];

beforeAll(() => {
  if (HAVE_OPENSSL) workspace = makeWorkspace();
});
afterAll(() => workspace?.remove());
afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.stop();
  await stopAllServers();
});

function files(): Workspace {
  if (workspace === undefined) throw new Error('no workspace: openssl is missing');
  return workspace;
}

/** The log line of a client's connect, by the address and port it connected from. */
function connectLine(address: string, port: number | undefined): RegExp {
  return new RegExp(`INFO  connect ${address.replace(/\./g, '\\.')}:${port} \\(pid \\d+\\) via proxy 127\\.0\\.0\\.1:\\d+`);
}

describe.skipIf(!HAVE_HAPROXY)('PROXY protocol through HAProxy', () => {
  it("v1 and v2: the log shows each client, --max-per-ip counts clients, not the proxy, and the proxy's checks never join", async () => {
    const server = await startServer([...TRUSTED, '--max-per-ip', '1']);
    const watcher = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.2');
    await watcher.waitFor('Welcome to posix-chat, guest-1!');
    const [v1, v2] = [await freePort(), await freePort()];
    const stats = path.join(files().dir, 'haproxy-v1-v2.sock');
    // Health checks every 100 ms that pass only on posix-chat's answer to a check: with
    // send-proxy-v2 they send a LOCAL header; with send-proxy (v1) a header naming the
    // check's own connection.
    const checked = '    option tcp-check\n    tcp-check expect string posix-chat\\ is\\ up.\n';
    const config = [
      'global',
      `    stats socket ${stats}`,
      'defaults',
      '    mode tcp',
      '    timeout connect 5s',
      '    timeout check 5s',
      '    timeout client 1m',
      '    timeout server 1m',
      `frontend v1\n    bind 127.0.0.1:${v1}\n    default_backend v1`,
      `backend v1\n${checked}    server chat 127.0.0.1:${server.port} send-proxy check inter 100 fall 1000`,
      `frontend v2\n    bind 127.0.0.1:${v2}\n    default_backend v2`,
      `backend v2\n${checked}    server chat 127.0.0.1:${server.port} send-proxy-v2 check inter 100 fall 1000`,
      '',
    ].join('\n');
    proxies.push(await startProxy('haproxy', (file) => ['-db', '-f', file], path.join(files().dir, 'haproxy-v1-v2.cfg'), config, [v1, v2]));
    for (const backend of ['v1', 'v2']) {
      await pollUntil(async () => new RegExp(`^${backend},chat,(?:[^,]*,){15}UP,(?:[^,]*,){18}L7OK,`, 'm').test(await haproxyStats(stats)), 10_000, `the ${backend} check to pass`);
    }

    const alice = await TestClient.connect(v1, '127.0.0.1', '127.0.0.3');
    await alice.waitFor('Welcome to posix-chat, guest-2!');
    const bob = await TestClient.connect(v2, '127.0.0.1', '127.0.0.4');
    await bob.waitFor('Welcome to posix-chat, guest-3!');
    await server.waitForLog(connectLine('127.0.0.3', alice.socket.localPort));
    await server.waitForLog(connectLine('127.0.0.4', bob.socket.localPort));
    alice.send('hello through haproxy\r\n');
    await bob.waitFor('<guest-2> hello through haproxy');

    // A second client from 127.0.0.3, through the other proxy port: over the limit of one.
    const again = await TestClient.connect(v2, '127.0.0.1', '127.0.0.3');
    const againPort = again.socket.localPort;
    await again.waitFor('Too many connections from 127.0.0.3 (at most 1); try again later.');
    await again.waitForClose();
    await server.waitForLog(new RegExp(`WARN  refused 127\\.0\\.0\\.3:${againPort}: Too many connections`));
    // The proxy (three connections from 127.0.0.1) was never counted: a new address still gets in.
    const carol = await TestClient.connect(v1, '127.0.0.1', '127.0.0.5');
    await carol.waitFor('Welcome to posix-chat, guest-');
    // Only the three clients joined (the refused one never did), whatever the checks did meanwhile.
    await watcher.waitFor(/guest-\d+ joined #lobby[^]*guest-\d+ joined #lobby[^]*guest-\d+ joined #lobby/, 10_000); // carol says nothing: QUIET_ARRIVAL_MS
    expect(watcher.text.match(/joined #lobby/g)).toHaveLength(3);
    expect(server.stderr()).not.toMatch(/INFO {2}connect 127\.0\.0\.1:/);
    for (const client of [watcher, alice, bob, carol]) client.close();
  });
});

describe.skipIf(!HAVE_HAPROXY || !HAVE_OPENSSL)('TLS in front: examples/tls/haproxy.cfg', () => {
  it('a TLS client chats with a telnet client and is known by its own address; the page is served over HTTPS; health checks never join', async () => {
    const server = await startServer([...TRUSTED, '--web-port', '0', '--trace']);
    const [telnets, https] = [await freePort(), await freePort()];
    const stats = path.join(files().dir, 'haproxy-stats.sock');
    const config = fromExample('haproxy.cfg', [
      [':992 ssl', `127.0.0.1:${telnets} ssl`],
      [':443 ssl', `127.0.0.1:${https} ssl`],
      ['/etc/haproxy/certs/chat.example.org.pem', files().combined],
      ['127.0.0.1:4444', `127.0.0.1:${server.port}`],
      ['127.0.0.1:8080', `127.0.0.1:${webPortOf(server.stdout())}`],
      // Checks every 100 ms instead of 2 s, each given 5 s to answer and never taking the
      // server down (a loaded machine may be slow), and a socket to ask HAProxy how they went.
      [' check\n', ' check inter 100 fall 1000\n'],
      ['    timeout connect 5s\n', '    timeout connect 5s\n    timeout check 5s\n'],
      ['global\n    log', `global\n    stats socket ${stats}\n    log`],
    ]);
    const watcher = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.2');
    await watcher.waitFor('Welcome to posix-chat, guest-1!');
    proxies.push(await startProxy('haproxy', (file) => ['-db', '-f', file], path.join(files().dir, 'haproxy.cfg'), config, [telnets, https]));

    // Both backends pass their checks (the telnet one by the line posix-chat answers),
    // several times over, and none of those connections joined the chat.
    await pollUntil(async () => /^posix-chat-telnet,chat,(?:[^,]*,){15}UP,(?:[^,]*,){18}L7OK,/m.test(await haproxyStats(stats)), 10_000, 'the telnet check to pass');
    await pollUntil(async () => /^posix-chat-web,web,(?:[^,]*,){15}UP,(?:[^,]*,){18}L7OK,/m.test(await haproxyStats(stats)), 10_000, 'the web check to pass');
    await server.waitForLog(/(health check from 127\.0\.0\.1:\d+: answered[^]*){5}/);
    expect(server.stderr()).not.toMatch(/INFO {2}connect 127\.0\.0\.1:/);

    const secure = await TlsClient.connect(telnets, files().cert, '127.0.0.5');
    await secure.waitFor('Welcome to posix-chat, guest-2!');
    await server.waitForLog(connectLine('127.0.0.5', secure.socket.localPort));
    secure.send('over tls\r\n');
    await watcher.waitFor('<guest-2> over tls');
    watcher.send('in the clear\r\n');
    await secure.waitFor('<guest-1> in the clear');
    // The watcher's only "joined" is guest-2's: it was there for every check before.
    expect(watcher.text.match(/\*\*\* \S+ joined #lobby/g)).toEqual(['*** guest-2 joined #lobby']);

    const page = await TlsClient.connect(https, files().cert, '127.0.0.6');
    page.send('HEAD / HTTP/1.1\r\nHost: chat.example.org\r\n\r\n');
    await page.waitFor('HTTP/1.1 200 OK');
    for (const client of [watcher, secure, page]) client.close();
  });
});

/** HAProxy's `show stat` (CSV), through its stats socket. */
function haproxyStats(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = net.connect(socketPath, () => socket.end('show stat\n'));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe.skipIf(!HAVE_STUNNEL || !HAVE_OPENSSL)('TLS in front: examples/tls/stunnel.conf', () => {
  it('openssl s_client chats with a telnet client through stunnel, which sends PROXY v1', async () => {
    const server = await startServer(TRUSTED);
    const port = await freePort();
    const config = fromExample('stunnel.conf', [
      // Run as the test's user, in the foreground, without a pid file.
      ['setuid = stunnel4\nsetgid = stunnel4\n', 'foreground = yes\npid =\n'],
      ['accept = 992', `accept = 127.0.0.1:${port}`],
      ['connect = 127.0.0.1:4444', `connect = 127.0.0.1:${server.port}`],
      ['/etc/stunnel/chat.example.org.crt', files().cert],
      ['/etc/stunnel/chat.example.org.key', files().key],
    ]);
    proxies.push(await startProxy('stunnel', (file) => [file], path.join(files().dir, 'stunnel.conf'), config, [port]));

    const plain = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.2');
    await plain.waitFor('Welcome to posix-chat, guest-1!');
    const sClient = spawn('openssl', ['s_client', '-quiet', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', files().cert, '-verify_return_error'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let received = '';
    sClient.stdout.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const ended = new Promise((resolve) => sClient.once('exit', resolve));
    try {
      await pollUntil(() => received.includes('Welcome to posix-chat, guest-2!'), 10_000, `the welcome through s_client (got ${JSON.stringify(received)})`);
      await server.waitForLog(/INFO {2}connect 127\.0\.0\.1:\d+ \(pid \d+\) via proxy 127\.0\.0\.1:\d+/);
      sClient.stdin.write('hello from s_client\r\n');
      await plain.waitFor('<guest-2> hello from s_client');
      plain.send('hello, tls\r\n');
      await pollUntil(() => received.includes('<guest-1> hello, tls'), 5_000, 'the telnet line through s_client');
    } finally {
      sClient.kill('SIGTERM');
      await ended;
    }

    // The address is the TLS client's own, from stunnel's header.
    const other = await TlsClient.connect(port, files().cert, '127.0.0.7');
    await other.waitFor('Welcome to posix-chat, guest-');
    await server.waitForLog(connectLine('127.0.0.7', other.socket.localPort));
    other.close();
    plain.close();
  });
});

describe('docs/deploy.md', () => {
  it('shows the configurations of examples/tls/ as they are', () => {
    const deploy = readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');
    for (const name of ['haproxy.cfg', 'stunnel.conf']) {
      expect(deploy, `examples/tls/${name}`).toContain(readFileSync(path.join(ROOT, 'examples', 'tls', name), 'utf8'));
    }
  });
});
