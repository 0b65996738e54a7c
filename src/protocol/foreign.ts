/**
 * What a connection to the telnet port that opens with another protocol's first bytes
 * is: a web browser or an HTTP scanner, a TLS client, an SSH client. A public port
 * meets them all day; their bytes are no chat lines, so the child refuses them
 * before any reaches the room. Pure: loads no addon. Byte by byte, with no string or
 * regular expression: it runs in every new child, where each page it would write or
 * each regular expression it would compile costs (docs/bench.md).
 */

/** How many of the first bytes are looked at. */
export const FOREIGN_LOOK_BYTES = 64;

/** TLS: a handshake record (22) of version 3.x: a ClientHello. No telnet client starts with Ctrl-V. */
const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR_VERSION = 0x03;
const SSH_GREETING = Buffer.from('SSH-', 'latin1');
/** HTTP's methods, each with the space after it. */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PRI'].map((method) => Buffer.from(`${method} `, 'latin1'));
/** How an absolute target starts (`GET http://example.org/ HTTP/1.1`). */
const ABSOLUTE_TARGETS = [Buffer.from('http://', 'latin1'), Buffer.from('https://', 'latin1')];
const SLASH = 0x2f;
const STAR = 0x2a;
const COLON = 0x3a;
const SPACE = 0x20;

/** Whether `bytes[from, length)` starts with `prefix`. */
function startsWith(bytes: Uint8Array, length: number, from: number, prefix: Uint8Array): boolean {
  if (from + prefix.length > length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[from + i] !== prefix[i]) return false;
  return true;
}

/** Whether `bytes[from, length)` starts a request target: `/`, `*`, `http(s)://`, or CONNECT's `host:port`. */
function isTarget(bytes: Uint8Array, length: number, from: number): boolean {
  const first = bytes[from];
  if (first === SLASH || first === STAR) return true;
  for (let i = 0; i < ABSOLUTE_TARGETS.length; i++) if (startsWith(bytes, length, from, ABSOLUTE_TARGETS[i] as Buffer)) return true;
  for (let i = from; i < length && bytes[i] !== SPACE && bytes[i] !== SLASH; i++) if (bytes[i] === COLON) return i > from; // host:port
  return false;
}

/** Whether the bytes start an HTTP request line: a method and the start of a target (however long the target). */
function isHttpRequest(bytes: Uint8Array, length: number): boolean {
  // Indexed loops: an iterator would be an object made in every child.
  for (let i = 0; i < HTTP_METHODS.length; i++) {
    const method = HTTP_METHODS[i] as Buffer;
    if (startsWith(bytes, length, 0, method)) return isTarget(bytes, length, method.length);
  }
  return false;
}

/** Whether `bytes[0, length)` is a start of `opening` shorter than all of it. */
function beginsShort(bytes: Uint8Array, length: number, opening: Uint8Array): boolean {
  if (length >= opening.length) return false;
  for (let i = 0; i < length; i++) if (bytes[i] !== opening[i]) return false;
  return true;
}

/** The openings foreignProtocol() knows by their first bytes alone. */
const OPENINGS = [Buffer.from([TLS_HANDSHAKE, TLS_MAJOR_VERSION]), SSH_GREETING, ...HTTP_METHODS];

/**
 * Whether `bytes[0, length)` are too few to tell: the start of an opening that
 * foreignProtocol() knows (`GE`, `SSH`, a lone 0x16), or an HTTP method whose target has
 * not begun, or not far enough (`GET `, `GET htt`, `CONNECT exam`). A scanner's request
 * can come in more than one segment; the child then waits for the rest before it decides.
 */
export function mayBeForeign(bytes: Uint8Array, length: number): boolean {
  // No early return for a long start: the warm-up's first read is long, and every step
  // here must run in it, or each child would compile what it skipped.
  const n = Math.min(length, FOREIGN_LOOK_BYTES);
  if (n === 0) return false;
  for (let i = 0; i < OPENINGS.length; i++) if (beginsShort(bytes, n, OPENINGS[i] as Buffer)) return true;
  if (n === FOREIGN_LOOK_BYTES) return false; // the most foreignProtocol() looks at: decided
  for (let i = 0; i < HTTP_METHODS.length; i++) {
    const method = HTTP_METHODS[i] as Buffer;
    if (!startsWith(bytes, n, 0, method)) continue;
    const target = bytes.subarray(method.length, n);
    if (target.length === 0) return true;
    for (let j = 0; j < ABSOLUTE_TARGETS.length; j++) if (beginsShort(target, target.length, ABSOLUTE_TARGETS[j] as Buffer)) return true;
    // CONNECT's host:port: no colon, space or slash yet.
    for (let j = 0; j < target.length; j++) if (target[j] === COLON || target[j] === SPACE || target[j] === SLASH) return false;
    return true;
  }
  return false;
}

/**
 * What the first bytes a client sent, `bytes[0, length)`, say it is, in words for the log
 * and for the client ("an HTTP request"), or null for anything a telnet client might send.
 */
export function foreignProtocol(bytes: Uint8Array, length: number): string | null {
  const n = Math.min(length, FOREIGN_LOOK_BYTES);
  if (n >= 2 && bytes[0] === TLS_HANDSHAKE && bytes[1] === TLS_MAJOR_VERSION) return 'a TLS handshake';
  if (startsWith(bytes, n, 0, SSH_GREETING)) return 'an SSH client';
  if (isHttpRequest(bytes, n)) return 'an HTTP request';
  return null;
}
