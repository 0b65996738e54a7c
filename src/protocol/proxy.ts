/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): the
 * bytes a proxy (HAProxy, stunnel, nginx) sends first on each connection it makes
 * to us, saying whom it is forwarding. Parsed strictly and within bounds: a header
 * is whole or refused, never guessed at. Pure: the child peeks at its socket and
 * asks this module what the bytes are.
 */
import { expandIpv6, parseIpv4, usualAddress } from './address.js';

/** The longest version 1 header, CRLF included (a TCP6 line with the longest addresses). */
export const PROXY_V1_MAX_BYTES = 107;
/** A version 2 header's fixed part: signature, version and command, family, length. */
export const PROXY_V2_FIXED_BYTES = 16;
/**
 * The longest version 2 header we take: the fixed part, the addresses and the TLVs a
 * proxy adds (TLS details, a unique id); HAProxy's and stunnel's are far shorter.
 */
export const PROXY_V2_MAX_BYTES = 4096;
/** What a reader must be able to look at to decide. */
export const PROXY_HEADER_MAX_BYTES = Math.max(PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES);

const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Address block sizes of version 2 (bytes): IPv4, IPv6 and Unix-socket addresses with ports. */
const V2_INET_BYTES = 12;
const V2_INET6_BYTES = 36;
const V2_UNIX_BYTES = 216;
const TLV_HEADER_BYTES = 3;

/** The client the proxy speaks for. */
export interface ProxySource {
  address: string;
  port: number;
}

/**
 * What the first bytes of a connection are:
 * - none: not a PROXY header (a client speaking for itself);
 * - partial: the start of one (or of a signature): wait for more bytes;
 * - invalid: a header, but a malformed one (`reason` says how);
 * - header: a whole header of `length` bytes; `source` is null when the proxy speaks
 *   for itself (v2 LOCAL: a health check, `check`) or gives no address (v1 UNKNOWN,
 *   v2 UNSPEC or a Unix socket): the connection's own address stands.
 */
export type ProxyHeader =
  | { kind: 'none' }
  | { kind: 'partial' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'header'; version: 1 | 2; length: number; source: ProxySource | null; check: boolean };

const NONE: ProxyHeader = { kind: 'none' };
const PARTIAL: ProxyHeader = { kind: 'partial' };

/** Reads `bytes[0, length)`, the first bytes a connection sent. */
export function parseProxyHeader(bytes: Uint8Array, length: number): ProxyHeader {
  if (startsWith(bytes, length, V1_SIGNATURE)) return length < V1_SIGNATURE.length ? PARTIAL : parseV1(bytes, length);
  if (startsWith(bytes, length, V2_SIGNATURE)) return length < V2_SIGNATURE.length ? PARTIAL : parseV2(bytes, length);
  return NONE;
}

/** Whether the first `length` bytes agree with `signature` as far as both go. */
function startsWith(bytes: Uint8Array, length: number, signature: Uint8Array): boolean {
  if (length === 0) return false;
  const n = Math.min(length, signature.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== signature[i]) return false;
  return true;
}

const invalid = (reason: string): ProxyHeader => ({ kind: 'invalid', reason });

// ------------------------------------------------------------- version 1

/** `PROXY TCP4 192.0.2.1 198.51.100.2 56324 4444\r\n`, `PROXY TCP6 ...`, or `PROXY UNKNOWN...\r\n`. */
function parseV1(bytes: Uint8Array, length: number): ProxyHeader {
  const end = Math.min(length, PROXY_V1_MAX_BYTES);
  let lineEnd = -1;
  for (let i = 0; i < end; i++) {
    const byte = bytes[i] ?? 0;
    if (byte === 0x0d) {
      lineEnd = i;
      break;
    }
    if (byte < 0x20 || byte > 0x7e) return invalid('a version 1 header with a byte that is not printable ASCII');
  }
  if (lineEnd < 0) return length < PROXY_V1_MAX_BYTES ? PARTIAL : invalid(`a version 1 header without CRLF within ${PROXY_V1_MAX_BYTES} bytes`);
  if (lineEnd + 1 >= length) return PARTIAL;
  if (bytes[lineEnd + 1] !== 0x0a) return invalid('a version 1 header whose CR is not followed by LF');
  const header = (source: ProxySource | null): ProxyHeader => ({ kind: 'header', version: 1, length: lineEnd + 2, source, check: false });
  const fields = Buffer.from(bytes.buffer, bytes.byteOffset, lineEnd).toString('latin1').split(' ');
  const family = fields[1] ?? '';
  if (family === 'UNKNOWN') return header(null); // the rest of the line is to be ignored
  if (family !== 'TCP4' && family !== 'TCP6') return invalid(`a version 1 header with protocol '${family.slice(0, 8)}' (TCP4, TCP6 or UNKNOWN)`);
  if (fields.length !== 6) return invalid('a version 1 header without exactly two addresses and two ports, one space apart');
  const [, , sourceText = '', destinationText = '', sourcePort = '', destinationPort = ''] = fields;
  const source = family === 'TCP4' ? v1Ipv4(sourceText) : v1Ipv6(sourceText);
  const destination = family === 'TCP4' ? v1Ipv4(destinationText) : v1Ipv6(destinationText);
  if (source === null || destination === null) return invalid(`a version 1 header with an address that is not ${family === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const port = v1Port(sourcePort);
  if (port === null || v1Port(destinationPort) === null) return invalid('a version 1 header with a port that is not a number from 0 to 65535');
  return header({ address: source, port });
}

function v1Ipv4(text: string): string | null {
  return parseIpv4(text) === null ? null : text;
}

function v1Ipv6(text: string): string | null {
  const groups = text.includes('%') ? null : expandIpv6(text);
  return groups === null ? null : usualAddress(groups);
}

function v1Port(text: string): number | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

// ------------------------------------------------------------- version 2

/** The binary header: signature, version and command, family and transport, length, addresses, TLVs. */
function parseV2(bytes: Uint8Array, length: number): ProxyHeader {
  if (length < PROXY_V2_FIXED_BYTES) return PARTIAL;
  const versionCommand = bytes[12] ?? 0;
  if (versionCommand >> 4 !== 2) return invalid(`a version 2 signature with version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`a version 2 header with command ${command} (LOCAL or PROXY)`);
  const family = bytes[13] ?? 0;
  const blockLength = ((bytes[14] ?? 0) << 8) | (bytes[15] ?? 0);
  const total = PROXY_V2_FIXED_BYTES + blockLength;
  if (total > PROXY_V2_MAX_BYTES) return invalid(`a version 2 header of ${total} bytes (at most ${PROXY_V2_MAX_BYTES})`);
  if (length < total) return PARTIAL;
  const header = (source: ProxySource | null, check = false): ProxyHeader => ({ kind: 'header', version: 2, length: total, source, check });
  // LOCAL: the proxy's own connection (a health check); its address block, if any, means nothing.
  if (command === 0) return header(null, true);
  let addressBytes: number;
  switch (family) {
    case 0x00: // UNSPEC: the proxy does not know; the connection's own address stands
      addressBytes = 0;
      break;
    case 0x11: // TCP over IPv4
      addressBytes = V2_INET_BYTES;
      break;
    case 0x21: // TCP over IPv6
      addressBytes = V2_INET6_BYTES;
      break;
    case 0x31: // a Unix stream socket: no address of ours to give
      addressBytes = V2_UNIX_BYTES;
      break;
    default:
      return invalid(`a version 2 header with family and transport 0x${family.toString(16).padStart(2, '0')} (not a stream)`);
  }
  if (blockLength < addressBytes) return invalid(`a version 2 header whose ${blockLength} bytes cannot hold its ${addressBytes}-byte addresses`);
  const tlvs = checkTlvs(bytes, PROXY_V2_FIXED_BYTES + addressBytes, total);
  if (tlvs !== null) return invalid(tlvs);
  const at = PROXY_V2_FIXED_BYTES;
  if (family === 0x11) {
    const address = `${bytes[at] ?? 0}.${bytes[at + 1] ?? 0}.${bytes[at + 2] ?? 0}.${bytes[at + 3] ?? 0}`;
    return header({ address, port: u16(bytes, at + 8) });
  }
  if (family === 0x21) {
    const groups: number[] = [];
    for (let i = 0; i < 8; i++) groups.push(u16(bytes, at + 2 * i));
    return header({ address: usualAddress(groups), port: u16(bytes, at + 32) });
  }
  return header(null);
}

/** Why the TLVs in `bytes[from, to)` do not fill it exactly, one after another; null when they do. */
function checkTlvs(bytes: Uint8Array, from: number, to: number): string | null {
  let at = from;
  while (at < to) {
    if (to - at < TLV_HEADER_BYTES) return 'a version 2 header with a cut TLV';
    at += TLV_HEADER_BYTES + u16(bytes, at + 1);
    if (at > to) return 'a version 2 header with a TLV longer than the header';
  }
  return null;
}

function u16(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0);
}
