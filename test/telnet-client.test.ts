import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, startServer, stopAllServers } from './helpers/server.js';

const missing = ['telnet', 'expect'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const HOW = 'install them with: apt-get install -y inetutils-telnet expect (.ci/run does)';
const inCI = process.env.CI === 'true';

afterEach(stopAllServers);

describe('a real telnet client', () => {
  if (missing.length > 0 && inCI) {
    it('has telnet and expect installed (required under CI)', () => {
      throw new Error(`missing ${missing.join(' and ')}: ${HOW}`);
    });
    return;
  }
  it.skipIf(missing.length > 0)(`chats: rename, talk, /msg, /who, /me, history, /join, /quit${missing.length > 0 ? ` (skipped: ${HOW})` : ''}`, async () => {
    const server = await startServer();
    const script = path.join(ROOT, 'test/fixtures/telnet-chat.exp');
    const run = spawn('expect', [script, String(server.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    run.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    run.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const killer = setTimeout(() => run.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => run.on('exit', resolve));
    clearTimeout(killer);
    expect(output, output).toMatch(/^OK$/m);
    expect(code).toBe(0);
  }, 70_000);
});
