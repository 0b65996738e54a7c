/**
 * What the web child answers to one HTTP request: a file of the page, the WebSocket
 * handshake on /ws (RFC 6455 section 4.2: Upgrade, Connection, version 13, a valid key,
 * an allowed Origin), or an error. Pure: a request in, the bytes to send out.
 */
import { errorResponse, hasToken, httpResponse, type HttpRequest } from '../protocol/http.js';
import { acceptKey, isValidKey } from '../protocol/websocket.js';
import type { Site } from './site.js';

/** Where the page opens its WebSocket. */
export const WEBSOCKET_PATH = '/ws';

export interface WebSettings {
  site: Site;
  /** Origins allowed to open the WebSocket; empty: the page's own, as the Host field names it. */
  origins: readonly string[];
}

/** respond: send `bytes`, then read the next request (or close); upgrade: send `bytes`, then speak WebSocket. */
export type Answer = { kind: 'respond'; bytes: Buffer; close: boolean } | { kind: 'upgrade'; bytes: Buffer };

function fail(status: number, text: string, extra: readonly (readonly [string, string])[] = []): Answer {
  return { kind: 'respond', bytes: errorResponse(status, text, extra), close: true };
}

/**
 * Whether a browser page from `origin` may open the WebSocket. A client that sends no
 * Origin is no browser (a browser always sends one): no other site's page is behind it.
 */
export function originAllowed(origin: string | undefined, host: string, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  const given = origin.toLowerCase();
  if (allowed.length > 0) return allowed.some((one) => one.toLowerCase() === given);
  const own = host.toLowerCase();
  return given === `http://${own}` || given === `https://${own}`;
}

export function answer(request: HttpRequest, settings: WebSettings): Answer {
  const path = request.target.split('?')[0] ?? '/';
  const headers = request.headers;
  if (path === WEBSOCKET_PATH) return handshake(request, settings);
  const file = settings.site.get(path);
  if (file === undefined) return fail(404, `Nothing at ${path.slice(0, 200)}.`);
  if (request.method !== 'GET' && request.method !== 'HEAD') return fail(405, `${request.method} is not served here.`, [['Allow', 'GET, HEAD']]);
  const close = hasToken(headers.get('connection'), 'close');
  return { kind: 'respond', bytes: request.method === 'HEAD' ? file.head : file.get, close };
}

function handshake(request: HttpRequest, settings: WebSettings): Answer {
  const headers = request.headers;
  if (request.method !== 'GET') return fail(405, 'The WebSocket opens with GET.', [['Allow', 'GET']]);
  if (!hasToken(headers.get('upgrade'), 'websocket') || !hasToken(headers.get('connection'), 'upgrade')) {
    return fail(426, 'This is the WebSocket endpoint: open it with a WebSocket client.', [['Upgrade', 'websocket']]);
  }
  if (headers.get('sec-websocket-version') !== '13') return fail(426, 'Only WebSocket version 13 is spoken.', [['Sec-WebSocket-Version', '13']]);
  const key = headers.get('sec-websocket-key') ?? '';
  if (!isValidKey(key)) return fail(400, 'A Sec-WebSocket-Key of 16 bytes in base64 is needed.');
  if (!originAllowed(headers.get('origin'), headers.get('host') ?? '', settings.origins)) return fail(403, 'Pages from that origin may not open this chat.');
  const bytes = httpResponse(101, [
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Accept', acceptKey(key)],
  ]);
  return { kind: 'upgrade', bytes };
}
