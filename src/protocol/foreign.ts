/**
 * What a connection to the telnet port that opens with another protocol's first bytes
 * is: a web browser or an HTTP scanner, a TLS client, an SSH client. A public port
 * meets them all day; their bytes are no chat lines, so the child refuses them
 * before any reaches the room. Pure: loads no addon.
 */

/** How many of the first bytes are looked at. */
export const FOREIGN_LOOK_BYTES = 64;

/**
 * The start of an HTTP request line: a method and a target (`GET /`, `OPTIONS *`, `GET
 * http://...`, `CONNECT host:443`). Only its start: a scanner's target can be longer than
 * what is looked at.
 */
const HTTP_REQUEST_START = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE|CONNECT|PRI) (\/|\*|https?:\/\/|[^\s/]+:\d+)/;

/** TLS: a handshake record (22) of version 3.x: a ClientHello. No telnet client starts with Ctrl-V. */
const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR_VERSION = 0x03;

/**
 * What the first bytes a client sent, `bytes[0, length)`, say it is, in words for the log
 * and for the client ("an HTTP request"), or null for anything a telnet client might send.
 */
export function foreignProtocol(bytes: Uint8Array, length: number): string | null {
  if (length >= 2 && bytes[0] === TLS_HANDSHAKE && bytes[1] === TLS_MAJOR_VERSION) return 'a TLS handshake';
  if (length < 4) return null;
  const start = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(length, FOREIGN_LOOK_BYTES)).toString('latin1');
  if (start.startsWith('SSH-')) return 'an SSH client';
  if (HTTP_REQUEST_START.test(start)) return 'an HTTP request';
  return null;
}
