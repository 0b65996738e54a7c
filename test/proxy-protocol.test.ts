/**
 * --proxy-protocol over raw sockets: headers written by hand, from the trusted
 * 127.0.0.1 and from untrusted addresses (127.0.0.2, ...), whole, split, malformed
 * or missing. Real HAProxy and stunnel in front are in tls-proxies.test.ts.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { startServer, stopAllServers, type RunningServer } from './helpers/server.js';

const TRUSTED = ['--proxy-protocol', '--trusted-proxy', '127.0.0.1'];

afterEach(stopAllServers);

/** A version 2 PROXY header for TCP over IPv4 from `source`:`port`. */
function v2Header(source: number[], port: number): Buffer {
  const header = Buffer.from('0d0a0d0a000d0a515549540a211100' + '0c' + '00000000' + '7f000001' + '0000' + '115c', 'hex');
  Buffer.from(source).copy(header, 16);
  header.writeUInt16BE(port, 24);
  return header;
}

/** The pid of the child reading the PROXY header of 127.0.0.1:`port` (a --trace line). */
async function childReadingHeader(server: RunningServer, port: number): Promise<number> {
  const pattern = new RegExp(`child (\\d+) reads the PROXY header of 127\\.0\\.0\\.1:${port}\\b`);
  await pollUntil(() => pattern.test(server.stderr()), 5_000, 'the --trace line of the child reading the header');
  return Number(pattern.exec(server.stderr())?.[1]);
}

/**
 * -1 unless process `pid` sleeps waiting for TCP data (wchan wait_woken); else how often it
 * has gone to sleep so far (voluntary context switches), which grows each time it wakes and waits again.
 */
function waitingOnSocket(pid: number): number {
  try {
    if (readFileSync(`/proc/${pid}/wchan`, 'utf8') !== 'wait_woken') return -1;
    return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? -1);
  } catch {
    return -1;
  }
}

describe('--proxy-protocol: a trusted proxy', () => {
  it('names the client in a v1 or v2 header: the log, --classic and --max-per-ip go by that address', async () => {
    const server = await startServer([...TRUSTED, '--classic', '--max-per-ip', '1']);
    const watcher = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.2');
    await server.waitForLog(/connect 127\.0\.0\.2:\d+/);

    const first = await TestClient.connect(server.port);
    first.send('PROXY TCP4 192.0.2.10 127.0.0.1 40000 4444\r\nhello from behind\r\n');
    await watcher.waitFor(/\[192\.0\.2\.10\] \(\d+\):hello from behind/);
    await server.waitForLog(/INFO {2}connect 192\.0\.2\.10:40000 \(pid \d+\) via proxy 127\.0\.0\.1:\d+/);

    // The same client again, through a v2 header: over its limit of one.
    const again = await TestClient.connect(server.port);
    again.send(v2Header([192, 0, 2, 10], 40001));
    await again.waitFor('Too many connections from 192.0.2.10 (at most 1); try again later.');
    await again.waitForClose();
    await server.waitForLog(/WARN {2}refused 192\.0\.2\.10:40001: Too many connections/);

    // Another client through the same proxy: the proxy's address was never counted.
    const other = await TestClient.connect(server.port);
    other.send(Buffer.concat([v2Header([198, 51, 100, 7], 5000), Buffer.from('and me\r\n')]));
    await watcher.waitFor(/\[198\.51\.100\.7\] \(\d+\):and me/);
    for (const client of [watcher, first, other]) client.close();
  });

  it('may send the header in pieces; what follows it in the same read is the first line', async () => {
    const server = await startServer([...TRUSTED, '--trace']);
    const watcher = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.2');
    await watcher.waitFor('Welcome to posix-chat, guest-1!');
    const client = await TestClient.connect(server.port);
    const pid = await childReadingHeader(server, client.socket.localPort ?? 0);
    // Each piece once the child has looked at the last one and waits for more (woke and slept again).
    let switches = -1;
    for (const piece of ['PRO', 'XY TCP6 2001:db8::', '7 ::1 6000 ', '4444\r', '\nfirst line\r\n']) {
      await pollUntil(() => waitingOnSocket(pid) > switches, 5_000, `child ${pid} to wait for more of the header`);
      switches = waitingOnSocket(pid);
      client.send(piece);
    }
    await client.waitFor('Welcome to posix-chat, guest-2!');
    await watcher.waitFor('<guest-2> first line');
    await server.waitForLog(/INFO {2}connect \[2001:db8::7\]:6000 \(pid \d+\) via proxy 127\.0\.0\.1:\d+/);
    client.close();
    watcher.close();
  });

  it('is refused, with a line saying why, for a malformed header, for none, and for one that never ends', async () => {
    const server = await startServer(TRUSTED);
    const cases: [string, string][] = [
      ['PROXY TCP4 192.0.2.10 127.0.0.1 99999 4444\r\n', 'A malformed PROXY protocol header: a version 1 header with a port that is not a number from 0 to 65535.'],
      ['hello, I am no header\r\n', 'A trusted proxy sent no PROXY protocol header'],
      ['PROXY TCP4 192.0.2.10', 'A trusted proxy sent no whole PROXY protocol header within 5 s.'],
    ];
    for (const [sent, answer] of cases) {
      const client = await TestClient.connect(server.port);
      const port = client.socket.localPort ?? 0;
      client.send(sent);
      await client.waitFor(answer, 10_000);
      await client.waitForClose();
      await server.waitForLog(new RegExp(`WARN {2}refused 127\\.0\\.0\\.1:${port}: ${answer.slice(0, 30)}`));
    }
    expect(server.stderr()).not.toMatch(/INFO {2}connect/);
  });

  it('answers a v2 LOCAL header (a health check) with one line and closes it; it never joins', async () => {
    const server = await startServer([...TRUSTED, '--trace']);
    const watcher = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.2');
    await watcher.waitFor('Welcome to posix-chat, guest-1!');
    for (let i = 0; i < 3; i++) {
      const check = await TestClient.connect(server.port);
      check.send(Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'));
      await check.waitFor('*** posix-chat is up.');
      await check.waitForClose();
    }
    await server.waitForLog(/(health check from 127\.0\.0\.1:\d+: answered[^]*){3}/);
    // A client after the checks: the watcher's first "joined" is this one's (notices keep their order).
    const late = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.3');
    await late.waitFor('Welcome to posix-chat, guest-');
    await watcher.waitFor(/\*\*\* guest-\d+ joined #lobby/, 10_000); // it says nothing: QUIET_ARRIVAL_MS
    const nick = /Welcome to posix-chat, (guest-\d+)!/.exec(late.text)?.[1];
    expect(watcher.text.match(/joined #lobby/g)).toEqual(['joined #lobby']);
    expect(watcher.text).toContain(`*** ${nick} joined #lobby`);
    expect(server.stderr()).not.toMatch(/INFO {2}connect 127\.0\.0\.1:/);
    expect(server.stderr()).not.toMatch(/refused/);
    for (const client of [watcher, late]) client.close();
  });

  it("serves a v1 UNKNOWN header (a client the proxy has no address for) by the proxy's address", async () => {
    const server = await startServer(TRUSTED);
    const client = await TestClient.connect(server.port);
    client.send('PROXY UNKNOWN\r\nhello\r\n');
    await client.waitFor('Welcome to posix-chat');
    await server.waitForLog(new RegExp(`INFO {2}connect 127\\.0\\.0\\.1:${client.socket.localPort ?? 0} \\(pid \\d+\\) via proxy 127\\.0\\.0\\.1:`));
    client.close();
  });
});

describe('a PROXY header from an address that is not a trusted proxy', () => {
  for (const args of [TRUSTED, []]) {
    it(`is refused, and the client cut off (${args.length === 0 ? 'without' : 'with'} --proxy-protocol)`, async () => {
      const server = await startServer(args);
      const watcher = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.2');
      await watcher.waitFor('Welcome to posix-chat, guest-1!');
      const liar = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.3');
      liar.send('PROXY TCP4 192.0.2.10 127.0.0.1 40000 4444\r\nI am 192.0.2.10\r\n');
      await liar.waitFor('Disconnected: a PROXY protocol header from an address that is not a trusted proxy (--trusted-proxy).');
      await liar.waitForClose();
      await server.waitForLog(/WARN {2}disconnect 127\.0\.0\.3:\d+ \(pid \d+\): kicked \(a PROXY protocol header from an address that is not a trusted proxy/);
      expect(watcher.text).not.toContain('I am');
      expect(server.stderr()).not.toContain('192.0.2.10');
      watcher.close();
    });
  }

  it('is only refused whole: a first line that starts like one is chat', async () => {
    const server = await startServer(TRUSTED);
    const watcher = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.2');
    await watcher.waitFor('Welcome to posix-chat, guest-1!');
    const talker = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.3');
    talker.send('PROXY me to the others\r\n');
    await watcher.waitFor('<guest-2> PROXY me to the others');
    talker.close();
    watcher.close();
  });
});
