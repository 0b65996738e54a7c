/**
 * A strict HTTP/1.1 request head parser, and the responses the web child sends. Only
 * what the page needs: a request line in origin form, header fields, no body. Anything
 * else is an error with a status to answer (400, 431, 505) and the connection closes:
 * a bounded head, CR LF line ends only, no folded or malformed fields, exactly one Host.
 * Pure: bytes in, a request or an error out.
 */

/** The longest request head taken (request line and fields, up to the empty line). */
export const MAX_REQUEST_HEAD_BYTES = 8192;
/** Header fields taken in one request. */
const MAX_FIELDS = 64;

export interface HttpRequest {
  method: string;
  /** The path and query, as sent ('/', '/app.js?v=2'). */
  target: string;
  /** Field names in lower case; a field sent twice is joined with ', ' (RFC 9110 section 5.3). */
  headers: ReadonlyMap<string, string>;
  /** Bytes the head took, the empty line included: what follows belongs to the next request. */
  headBytes: number;
}

export type ParseResult =
  | { kind: 'incomplete' }
  | { kind: 'error'; status: number; why: string }
  | { kind: 'request'; request: HttpRequest };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CR = 0x0d;
const LF = 0x0a;

/** The start of a request: an upper-case method, as every client sends (lets garbage be closed at once). */
function looksLikeRequest(buffer: Buffer, length: number): boolean {
  for (let i = 0; i < length; i++) {
    const byte = buffer[i] ?? 0;
    if (byte === 0x20) return i > 0;
    if (byte < 0x41 || byte > 0x5a) return false;
  }
  return true;
}

/** Where the head ends (the index after CR LF CR LF), -1 when not yet, -2 on a bare LF. */
function headEnd(buffer: Buffer, length: number): number {
  for (let i = 0; i < length; i++) {
    if (buffer[i] !== LF) continue;
    if (i === 0 || buffer[i - 1] !== CR) return -2;
    if (i >= 3 && buffer[i - 2] === LF && buffer[i - 3] === CR) return i + 1;
  }
  return -1;
}

/** Reads one request head from `buffer[0, length)`. */
export function parseRequestHead(buffer: Buffer, length: number): ParseResult {
  if (!looksLikeRequest(buffer, Math.min(length, 16))) return { kind: 'error', status: 400, why: 'not an HTTP request' };
  const end = headEnd(buffer, Math.min(length, MAX_REQUEST_HEAD_BYTES));
  if (end === -2) return { kind: 'error', status: 400, why: 'a line that does not end with CR LF' };
  if (end === -1) return length >= MAX_REQUEST_HEAD_BYTES ? { kind: 'error', status: 431, why: `request head over ${MAX_REQUEST_HEAD_BYTES} bytes` } : { kind: 'incomplete' };
  const lines = buffer.toString('latin1', 0, end - 4).split('\r\n');
  const requestLine = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\/[\x21-\x7e]*) HTTP\/(\d\.\d)$/.exec(lines[0] ?? '');
  if (requestLine === null) return { kind: 'error', status: 400, why: 'a malformed request line' };
  const [, method = '', target = '', version = ''] = requestLine;
  if (version !== '1.1') return { kind: 'error', status: 505, why: `HTTP/${version} (only HTTP/1.1 is served)` };
  if (lines.length - 1 > MAX_FIELDS) return { kind: 'error', status: 431, why: `more than ${MAX_FIELDS} header fields` };
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (colon <= 0 || !TOKEN.test(name)) return { kind: 'error', status: 400, why: 'a malformed header field' };
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return { kind: 'error', status: 400, why: `a control character in ${name}` };
    const before = headers.get(name);
    if (before !== undefined && name === 'host') return { kind: 'error', status: 400, why: 'two Host fields' };
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  if (!headers.has('host')) return { kind: 'error', status: 400, why: 'no Host field' };
  const bodyLength = headers.get('content-length');
  if (headers.has('transfer-encoding') || (bodyLength !== undefined && bodyLength !== '0')) return { kind: 'error', status: 400, why: 'a request body (none is taken)' };
  return { kind: 'request', request: { method, target, headers, headBytes: end } };
}

/** Whether a comma-separated field (Connection, Upgrade) lists `token`, in any case. */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  return value.split(',').some((part) => part.trim().toLowerCase() === token);
}

const REASONS: Readonly<Record<number, string>> = {
  101: 'Switching Protocols',
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/** A whole response: status line, `headers` (Content-Length added when there is a body), the body. */
export function httpResponse(status: number, headers: readonly (readonly [string, string])[], body: Buffer | null = null): Buffer {
  const lines = [`HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}`];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  if (body !== null) lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body === null ? head : Buffer.concat([head, body]);
}

/** A short plain-text error that closes the connection. */
export function errorResponse(status: number, text: string, extra: readonly (readonly [string, string])[] = []): Buffer {
  const headers: (readonly [string, string])[] = [['Content-Type', 'text/plain; charset=utf-8'], ['Connection', 'close'], ...extra];
  return httpResponse(status, headers, Buffer.from(`${text}\n`, 'utf8'));
}
