/** `--host ::`: one socket for IPv6 and IPv4 clients, each shown in its usual form. */
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { startServer, stopAllServers } from './helpers/server.js';

afterEach(stopAllServers);

describe('--host ::', () => {
  it('lets a client over ::1 and one over 127.0.0.1 chat; the log shows [::1]:PORT and 127.0.0.1:PORT', async () => {
    const server = await startServer(['--host', '::']);
    expect(server.host).toBe('::');
    const six = await TestClient.connect(server.port, '::1');
    await six.waitFor('Welcome to posix-chat, guest-1!');
    const four = await TestClient.connect(server.port, '127.0.0.1');
    await four.waitFor('Welcome to posix-chat, guest-2!');
    six.send('hello over IPv6\r\n');
    await four.waitFor('<guest-1> hello over IPv6');
    four.send('hello over IPv4\r\n');
    await six.waitFor('<guest-2> hello over IPv4');
    const log = (): string => server.stderr();
    await pollUntil(() => log().includes(`connect [::1]:${six.socket.localPort ?? 0} (pid `) && log().includes(`connect 127.0.0.1:${four.socket.localPort ?? 0} (pid `), 5_000, `both connects in the log:\n${log()}`);
    expect(log()).not.toContain('::ffff:');
    six.close();
    four.close();
  });
});
