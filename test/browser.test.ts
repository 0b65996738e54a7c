/**
 * The web page in a real browser: Debian's chromium, headless, driven by puppeteer-core
 * (no browser download). The page loads without a console error, a line typed in it
 * reaches a telnet-port client and theirs appears in its terminal, and it comes back
 * by itself after the server restarts on the same ports.
 */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from './helpers/client.js';
import { startServer, stopAllServers } from './helpers/server.js';
import { webPortOf } from './helpers/websocket.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM);
const HOW = `install it with: apt-get install -y chromium (.ci/run does), or set CHROMIUM to its path`;
const inCI = process.env.CI === 'true';

let browser: Browser | null = null;

afterEach(async () => {
  await browser?.close();
  browser = null;
  await stopAllServers();
});

async function launch(): Promise<Page> {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (CI, containers) Chromium's sandbox cannot start.
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--no-first-run'],
  });
  return browser.newPage();
}

/**
 * The value of `expression` in the page. Given as text: this program is compiled without
 * the DOM's types, which would let browser globals into the server's code unchecked.
 */
async function inPage(page: Page, expression: string): Promise<string> {
  return String(await page.evaluate(expression));
}

/** The text the page's terminal shows now, a row per line. */
function screen(page: Page): Promise<string> {
  return inPage(page, "document.querySelector('.xterm-rows')?.innerText ?? ''");
}

async function waitForScreen(page: Page, text: string | RegExp, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (let shown = await screen(page); typeof text === 'string' ? !shown.includes(text) : !text.test(shown); shown = await screen(page)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the page shows:\n${shown}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Types `line` into the page's input and sends it with Enter. */
async function say(page: Page, line: string): Promise<void> {
  await page.focus('#line');
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

describe('the web page in Chromium', () => {
  if (missing && inCI) {
    it('has chromium installed (required under CI)', () => {
      throw new Error(`no browser at ${CHROMIUM}: ${HOW}`);
    });
    return;
  }

  it.skipIf(missing)(`loads cleanly, chats with a telnet client, and reconnects after a restart${missing ? ` (skipped: ${HOW})` : ''}`, async () => {
    const server = await startServer(['--web-port', '0']);
    const web = webPortOf(server.stdout());
    const telnet = await TestClient.connect(server.port);
    await telnet.waitFor('Type /help');

    const page = await launch();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(`http://127.0.0.1:${web}/`, { waitUntil: 'load' });
    await waitForScreen(page, 'Welcome to posix-chat, guest-2!', 'the welcome');
    expect(await inPage(page, "document.getElementById('status').textContent")).toBe('connected');

    await say(page, 'hello from chromium');
    await telnet.waitFor('<guest-2> hello from chromium\r\n');
    telnet.send('hello from telnet\r\n');
    await waitForScreen(page, '<guest-1> hello from telnet', "the telnet client's line");
    await waitForScreen(page, 'hello from chromium', 'the echo of its own line');
    expect(await inPage(page, "[...document.querySelectorAll('#people li')].map((item) => item.textContent).join(' ')")).toBe('guest-1 guest-2');

    // History: Up brings back the line sent.
    await page.focus('#line');
    await page.keyboard.press('ArrowUp');
    expect(await inPage(page, "document.getElementById('line').value")).toBe('hello from chromium');

    // An escape sequence typed in the page reaches nobody's terminal.
    await inPage(page, "document.getElementById('line').value = 'plain\\x1b[2J\\x1b[31mred'; document.getElementById('say').requestSubmit()");
    await telnet.waitFor('<guest-2> plainred\r\n');
    expect(telnet.text).not.toContain('\x1b');
    expect(errors).toEqual([]);

    // The server restarts on the same ports: the page comes back by itself.
    server.proc.kill('SIGTERM');
    await server.exited;
    await page.waitForFunction("document.getElementById('status').textContent.startsWith('disconnected')", { timeout: 10_000 });
    const again = await startServer(['--port', String(server.port), '--web-port', String(web)]);
    const telnetAgain = await TestClient.connect(again.port);
    await waitForScreen(page, /Welcome to posix-chat, guest-\d+![^]*Welcome to posix-chat, guest-\d+!/, 'the welcome after the restart');
    await page.waitForFunction("document.getElementById('status').textContent === 'connected'", { timeout: 10_000 });
    await say(page, 'back again');
    await telnetAgain.waitFor(/<guest-\d+> back again\r\n/);
  }, 90_000);

  it.skipIf(missing)(`hides a password as it is typed, as a telnet client does, and keeps it out of the terminal and the history${missing ? ` (skipped: ${HOW})` : ''}`, async () => {
    const server = await startServer(['--web-port', '0']);
    const page = await launch();
    await page.goto(`http://127.0.0.1:${webPortOf(server.stdout())}/`, { waitUntil: 'load' });
    await waitForScreen(page, 'Welcome to posix-chat', 'the welcome');
    const inputType = (): Promise<string> => inPage(page, "document.getElementById('line').type");
    expect(await inputType()).toBe('text');
    await say(page, '/login someone');
    await waitForScreen(page, 'Password for someone', 'the password prompt');
    await page.waitForFunction("document.getElementById('line').type === 'password'", { timeout: 5_000 });
    await say(page, 'hunter2-secret');
    await waitForScreen(page, 'No account is called someone.', 'the answer');
    expect(await inputType()).toBe('text');
    expect(await screen(page)).not.toContain('hunter2');
    await page.focus('#line');
    await page.keyboard.press('ArrowUp');
    expect(await inPage(page, "document.getElementById('line').value")).toBe('/login someone');
  }, 60_000);

  it.skipIf(missing)(`fits a phone's screen: the terminal, the list and the line all show, and the line sends${missing ? ` (skipped: ${HOW})` : ''}`, async () => {
    const server = await startServer(['--web-port', '0']);
    const telnet = await TestClient.connect(server.port);
    await telnet.waitFor('Type /help');
    const page = await launch();
    await page.setViewport({ width: 360, height: 640, isMobile: true, hasTouch: true });
    await page.goto(`http://127.0.0.1:${webPortOf(server.stdout())}/`, { waitUntil: 'load' });
    await waitForScreen(page, 'Welcome to posix-chat', 'the welcome');
    // Every part is on the screen, none wider than it.
    const boxes = await inPage(
      page,
      "JSON.stringify(['#terminal', '#who', '#line', '#say button'].map((s) => { const r = document.querySelector(s).getBoundingClientRect(); return [s, r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= innerWidth && r.bottom <= innerHeight]; }))",
    );
    expect(JSON.parse(boxes)).toEqual([['#terminal', true], ['#who', true], ['#line', true], ['#say button', true]]);
    await page.tap('#line');
    await page.keyboard.type('from a phone');
    await page.tap('#say button');
    await telnet.waitFor('<guest-2> from a phone\r\n');
  }, 60_000);
});
