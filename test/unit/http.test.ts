/**
 * The web child's HTTP (src/protocol/http.ts) and what it answers (src/web/respond.ts,
 * src/web/site.ts): a strict request head parser, the page's files with their headers,
 * and the WebSocket handshake's checks, Origin included.
 */
import { describe, expect, it } from 'vitest';
import { MAX_REQUEST_HEAD_BYTES, parseRequestHead, type HttpRequest, type ParseResult } from '../../src/protocol/http.js';
import { acceptKey } from '../../src/protocol/websocket.js';
import { answer, originAllowed, type Answer } from '../../src/web/respond.js';
import { asset, CONTENT_SECURITY_POLICY, loadSite } from '../../src/web/site.js';

function parse(text: string): ParseResult {
  const bytes = Buffer.from(text, 'latin1');
  return parseRequestHead(bytes, bytes.length);
}

function request(text: string): HttpRequest {
  const result = parse(text);
  if (result.kind !== 'request') throw new Error(`expected a request, got ${JSON.stringify(result)}`);
  return result.request;
}

describe('parseRequestHead()', () => {
  it('reads the request line and the fields, names in lower case', () => {
    const head = 'GET /app.js?v=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\nAccept:  text/css \r\n\r\n';
    const parsed = request(`${head}GET / HTTP/1.1\r\n`);
    expect(parsed.method).toBe('GET');
    expect(parsed.target).toBe('/app.js?v=1');
    expect(parsed.headers.get('host')).toBe('127.0.0.1:8080');
    expect(parsed.headers.get('accept')).toBe('*/*, text/css');
    expect(parsed.headBytes).toBe(head.length); // the next request starts there
  });

  it('waits for the rest of a head', () => {
    expect(parse('GET / HTTP/1.1\r\nHost: x\r\n').kind).toBe('incomplete');
    expect(parse('GE').kind).toBe('incomplete');
    expect(parse('').kind).toBe('incomplete');
  });

  it.each<[string, string, number]>([
    ['garbage, at once', '\x16\x03\x01\x02\x00', 400],
    ['a lower-case method', 'get / HTTP/1.1\r\n', 400],
    ['a bare LF', 'GET / HTTP/1.1\nHost: x\n\n', 400],
    ['an absolute target', 'GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: x\r\n\r\n', 505],
    ['no Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 400],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['a folded field', 'GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 400],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
    ['a control character in a value', 'GET / HTTP/1.1\r\nHost: x\x01\r\n\r\n', 400],
    ['a body', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello', 400],
    ['a chunked body', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['too many fields', `GET / HTTP/1.1\r\nHost: x\r\n${'A: b\r\n'.repeat(70)}\r\n`, 431],
    ['a head over the limit', `GET / HTTP/1.1\r\nHost: x\r\nX: ${'y'.repeat(MAX_REQUEST_HEAD_BYTES)}`, 431],
  ])('refuses %s', (_what, text, status) => {
    const result = parse(text);
    expect(result.kind === 'error' ? result.status : result.kind).toBe(status);
  });
});

describe('the page', () => {
  const site = loadSite();
  const settings = { site, origins: [] };

  function respond(text: string): Answer {
    return answer(request(text), settings);
  }

  function textOf(reply: Answer): string {
    return reply.bytes.toString('latin1');
  }

  it('serves every file with its type, the security policy, and no inline script', () => {
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/app.js', 'text/javascript'],
      ['/who.js', 'text/javascript'],
      ['/style.css', 'text/css'],
      ['/xterm/xterm.mjs', 'text/javascript'],
      ['/xterm/xterm.css', 'text/css'],
      ['/xterm/addon-fit.mjs', 'text/javascript'],
      ['/favicon.svg', 'image/svg+xml'],
    ] as const) {
      const reply = respond(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(reply.kind).toBe('respond');
      expect(textOf(reply).startsWith(`HTTP/1.1 200 OK\r\nContent-Type: ${type}`)).toBe(true);
      expect(textOf(reply)).toContain(`Content-Security-Policy: ${CONTENT_SECURITY_POLICY}\r\n`);
    }
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self';/);
    const html = textOf(respond('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/); // every script has a src
    expect(html).not.toMatch(/\son[a-z]+=/); // no inline event handlers
    expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere (no CDN)
  });

  it('answers HEAD with the head alone, keeps the connection unless told to close', () => {
    const get = respond('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const head = respond('HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(textOf(get).startsWith(textOf(head))).toBe(true);
    expect(textOf(head).endsWith('\r\n\r\n')).toBe(true);
    expect(get).toMatchObject({ close: false });
    expect(head).toMatchObject({ close: true });
  });

  it('sizes its Content-Length from the body', () => {
    const file = asset('a.txt', Buffer.from('hello'));
    expect(file.get.toString()).toMatch(/Content-Type: application\/octet-stream\r\n.*Content-Length: 5\r\n\r\nhello$/s);
  });

  it('answers 404 and 405, and closes after them', () => {
    expect(textOf(respond('GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'))).toMatch(/^HTTP\/1\.1 404 Not Found\r\n.*Connection: close/s);
    const post = respond('DELETE / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(textOf(post)).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n.*Allow: GET, HEAD\r\n/s);
    expect(post).toMatchObject({ close: true });
  });
});

describe('the WebSocket handshake', () => {
  const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
  const settings = { site: new Map(), origins: [] as string[] };
  const upgrade = (extra: string, origins: string[] = []): Answer =>
    answer(request(`GET /ws HTTP/1.1\r\nHost: chat.example:8080\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n${extra}\r\n`), { ...settings, origins });
  const status = (reply: Answer): string => reply.bytes.toString('latin1').split('\r\n')[0] ?? '';

  it('switches protocols with the accept value for the key', () => {
    const reply = upgrade(`Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nOrigin: http://chat.example:8080\r\n`);
    expect(reply.kind).toBe('upgrade');
    expect(reply.bytes.toString('latin1')).toBe(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(KEY)}\r\n\r\n`);
  });

  it('refuses another origin with 403, before upgrading', () => {
    const reply = upgrade(`Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nOrigin: http://evil.example\r\n`);
    expect(status(reply)).toBe('HTTP/1.1 403 Forbidden');
    expect(reply).toMatchObject({ kind: 'respond', close: true });
  });

  it('takes the configured origins instead of the page’s own', () => {
    const fields = `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n`;
    expect(upgrade(`${fields}Origin: https://chat.example.org\r\n`, ['https://chat.example.org']).kind).toBe('upgrade');
    expect(status(upgrade(`${fields}Origin: http://chat.example:8080\r\n`, ['https://chat.example.org']))).toBe('HTTP/1.1 403 Forbidden');
  });

  it('lets in the page’s own origin over http or https (behind a TLS proxy), and clients that send none', () => {
    expect(originAllowed('https://Chat.Example:8080', 'chat.example:8080', [])).toBe(true);
    expect(originAllowed('http://chat.example:8080', 'chat.example:8080', [])).toBe(true);
    expect(originAllowed('http://chat.example:8081', 'chat.example:8080', [])).toBe(false);
    expect(originAllowed('null', 'chat.example:8080', [])).toBe(false);
    expect(originAllowed(undefined, 'chat.example:8080', [])).toBe(true);
  });

  it('refuses a wrong version, a bad key, a missing Upgrade and another method', () => {
    expect(status(upgrade(`Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: ${KEY}\r\n`))).toBe('HTTP/1.1 426 Upgrade Required');
    expect(status(upgrade('Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n'))).toBe('HTTP/1.1 400 Bad Request');
    expect(status(answer(request('GET /ws HTTP/1.1\r\nHost: x\r\n\r\n'), settings))).toBe('HTTP/1.1 426 Upgrade Required');
    expect(status(answer(request('HEAD /ws HTTP/1.1\r\nHost: x\r\n\r\n'), settings))).toBe('HTTP/1.1 405 Method Not Allowed');
  });
});
