import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { ROOT } from './helpers/server.js';
import { webPortOf } from './helpers/websocket.js';

const work = mkdtempSync(path.join(tmpdir(), 'posix-chat-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  // Both native addons (ours and better-sqlite3's) build from source: no download is tried.
  const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_build_from_source: 'true' };
  const run = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 600_000, env });
  if (run.status !== 0) throw new Error(`npm ${args.join(' ')} failed:\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

describe('the npm package', () => {
  it('packs, installs into an empty folder (building the addon), and `npx posix-chat --port 0 --web-port 0` serves the chat and the page', async () => {
    // --ignore-scripts: npm test has built dist/ already; rebuilding it here would race the other test files.
    npm(['pack', '--ignore-scripts', '--pack-destination', work], ROOT);
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz')) as string;
    const app = path.join(work, 'app');
    spawnSync('mkdir', ['-p', app]);
    npm(['init', '-y'], app);
    npm(['install', path.join(work, tarball)], app);

    const imported = spawnSync(process.execPath, ['--input-type=module', '-e', "import { getpid } from 'posix-chat/posix'; console.log(getpid() === process.pid)"], {
      cwd: app,
      encoding: 'utf8',
    });
    expect(imported.stdout.trim()).toBe('true');

    const server = spawn('npx', ['posix-chat', '--port', '0', '--web-port', '0'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    server.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
    try {
      await pollUntil(() => /Listening on 127\.0\.0\.1:\d+\.\.\./.test(out), 20_000, 'the packaged server to listen');
      const port = Number(/:(\d+)\.\.\./.exec(out)?.[1]);
      // The package built the preloaded library too, and the server runs with it.
      const pid = spawnSync('pgrep', ['-o', '-f', `${app}/node_modules/.bin/posix-chat`], { encoding: 'utf8' }).stdout.trim();
      expect(readFileSync(`/proc/${pid}/maps`, 'utf8')).toContain('mmap_without_hints.so');
      const client = await TestClient.connect(port);
      await client.waitFor('Welcome to posix-chat');
      client.close();
      // The page's files and the terminal's come with the package.
      const web = webPortOf(out);
      for (const file of ['/', '/app.js', '/xterm/xterm.mjs', '/xterm/addon-fit.mjs', '/xterm/xterm.css']) {
        const response = await fetch(`http://127.0.0.1:${web}${file}`);
        expect(`${file} ${response.status}`).toBe(`${file} 200`);
      }
    } finally {
      // npx runs the bin as a child: signal that server process itself. Its forked children share its
      // command line, so -o picks the oldest match (the parent), which ends them; signalling them too
      // would race their exit (ESRCH).
      const pid = spawnSync('pgrep', ['-o', '-f', `${app}/node_modules/.bin/posix-chat`], { encoding: 'utf8' }).stdout.trim();
      if (pid) process.kill(Number(pid), 'SIGTERM');
      server.kill('SIGTERM');
    }
    await exited;
  }, 900_000);
});
