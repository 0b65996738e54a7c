/**
 * A child's first look at its connection, before any reader (telnet or another) takes
 * a byte: the PROXY protocol header. From a trusted proxy the connection must start
 * with one; the child takes it off the stream and tells the parent the real client's
 * address (an `origin` record) before any line. From anyone else a header is refused:
 * believing it would let any client claim any address. Then, on the telnet port in chat
 * mode, a client whose first bytes are another protocol's (an HTTP request, a TLS
 * handshake, an SSH greeting) is refused too: they are no chat lines.
 *
 * The child looks with MSG_PEEK, so only the header itself is ever taken: what follows
 * stays in the socket for whichever reader serves the connection. It waits here (never
 * the parent): for a header at most PROXY_HEADER_TIMEOUT_MS, for a client's first bytes
 * as long as a read would.
 */
import type { ChildPlan } from '../contracts.js';
import * as posix from '../posix/index.js';
import { foreignProtocol, mayBeForeign } from '../protocol/foreign.js';
import { parseProxyHeader, PROXY_HEADER_MAX_BYTES, type ProxyHeader } from '../protocol/proxy.js';
import { RecordType, type RecordTypeCode } from '../protocol/record.js';
import type { LineRecords } from './input.js';

/**
 * How long a trusted proxy has to send its whole header, and how long a client's first
 * bytes that could begin a header (`PROX`, a CR LF) or another protocol's opening (`GE`,
 * `SSH`) wait for more before they are read as what they are. Proxies send the header at
 * once, in one segment.
 */
export const PROXY_HEADER_TIMEOUT_MS = 5000;
/** recv()'s flags for a look that leaves the bytes where they are: made once, not in every child. */
const PEEK = { peek: true } as const;

/** The record a child sends instead of serving its connection: a `refused` (data: why) or a `check`. */
interface NotServed {
  type: RecordTypeCode;
  text: string;
}

/**
 * Takes the PROXY header a trusted proxy sends first (`plan.expectProxyHeader`) and sends
 * the parent its `origin`; refuses one from anyone else, and a telnet client that speaks
 * another protocol (foreignClient). Returns true when the connection
 * goes on to be served; false when it is not: refused (the parent was sent a `refused`
 * record saying why), or the proxy's health check of the telnet port (a `check` record);
 * either way the parent has closed the connection and the `disc` record has been sent.
 * `buffer` (at least PROXY_HEADER_MAX_BYTES) is scratch space: the first look's bytes, then records' data.
 */
export function takeProxyHeader(plan: ChildPlan, records: LineRecords, buffer: Buffer): boolean {
  const checkForeign = plan.framing === 'telnet' && plan.inputMode === 'chat';
  let look: FirstLook;
  try {
    look = peekHeader(plan.clientFd, plan.expectProxyHeader, checkForeign && !plan.expectProxyHeader, buffer);
  } catch {
    return true; // ECONNRESET and the like: the reader meets the same end and says goodbye
  }
  // A client's first bytes are still in `buffer`; a proxy's were its header, taken off since.
  const notServed = (plan.expectProxyHeader ? expectedHeader(plan, look.header, records, buffer) : unexpectedHeader(look.header)) ?? (checkForeign ? foreignClient(plan.clientFd, buffer, plan.expectProxyHeader ? null : look.peeked) : null);
  if (notServed === null) return true;
  records.sendNow(notServed.type, buffer, buffer.write(notServed.text, 0, 'latin1'));
  waitForClose(plan.clientFd, buffer);
  records.sendDisc();
  return false;
}

/** What the first look found, and how many of the connection's first bytes it left in the buffer. */
interface FirstLook {
  header: ProxyHeader;
  peeked: number;
}

/**
 * Looks at the connection's first bytes until they are a header, or plainly not one, or
 * the time is up (`partial` then). A client's first look waits as long as the client
 * takes to say something, as any read would, and then up to PROXY_HEADER_TIMEOUT_MS for
 * the rest of a start that is not plain yet; a proxy's has that time from the start.
 * `foreign`: also wait while the bytes could still become another protocol's (mayBeForeign).
 */
function peekHeader(fd: number, expected: boolean, foreign: boolean, buffer: Buffer): FirstLook {
  let deadline = Date.now() + PROXY_HEADER_TIMEOUT_MS;
  let seen = 0;
  let paced = false;
  try {
    for (;;) {
      if (expected || seen > 0) {
        // Wait for more than what is already there, and not past the deadline.
        const leftMs = deadline - Date.now();
        if (leftMs <= 0) return { header: { kind: 'partial' }, peeked: seen };
        posix.setsockopt(fd, 'SO_RCVLOWAT', seen + 1);
        posix.setsockopt(fd, 'SO_RCVTIMEO', leftMs * 1000);
        paced = true;
      }
      const n = posix.recv(fd, buffer, 0, PROXY_HEADER_MAX_BYTES, PEEK);
      // End of stream (0) before a decision: nothing to refuse; the reader sees the end too.
      if (n === 0) return { header: { kind: 'none' }, peeked: 0 };
      // Nothing more came in time (null: nothing at all; n <= seen: only what was there).
      if (n === null || n <= seen) return { header: { kind: 'partial' }, peeked: n ?? seen };
      if (!expected && seen === 0) deadline = Date.now() + PROXY_HEADER_TIMEOUT_MS; // from its first bytes
      seen = n;
      const header = parseProxyHeader(buffer, n);
      if (header.kind !== 'partial' && !(foreign && mayBeForeign(buffer, n))) return { header, peeked: n };
    }
  } finally {
    if (paced) {
      posix.setsockopt(fd, 'SO_RCVLOWAT', 1);
      posix.setsockopt(fd, 'SO_RCVTIMEO', 0);
    }
  }
}

/**
 * From a trusted proxy: takes a whole header off the stream and sends its `origin`; or
 * says it is a health check (telnet port; on the web port a check is an HTTP request,
 * served as any); otherwise why it is refused.
 */
function expectedHeader(plan: ChildPlan, header: ProxyHeader, records: LineRecords, buffer: Buffer): NotServed | null {
  switch (header.kind) {
    case 'none':
      return refused('a trusted proxy sent no PROXY protocol header (send-proxy or send-proxy-v2 in HAProxy, protocol = proxy in stunnel)');
    case 'partial':
      return refused(`a trusted proxy sent no whole PROXY protocol header within ${PROXY_HEADER_TIMEOUT_MS / 1000} s`);
    case 'invalid':
      return refused(`a malformed PROXY protocol header: ${header.reason}`);
    case 'header':
      // It has been peeked whole, so this finds it there and takes exactly it.
      for (let taken = 0, n = 1; taken < header.length && n > 0; taken += n) n = posix.read(plan.clientFd, buffer, 0, header.length - taken) ?? 0;
      if (header.check && plan.framing === 'telnet') return { type: RecordType.check, text: '' };
      records.sendNow(RecordType.origin, buffer, header.source === null ? 0 : buffer.write(`${header.source.address} ${header.source.port}`, 0, 'latin1'));
      return null;
  }
}

function refused(why: string): NotServed {
  return { type: RecordType.refused, text: why };
}

/**
 * From anyone else: a whole, valid header is refused. A line that only starts like a
 * version 1 header ("PROXY me") is someone's chat.
 */
function unexpectedHeader(header: ProxyHeader): NotServed | null {
  if (header.kind === 'header') return refused('a PROXY protocol header from an address that is not a trusted proxy (--trusted-proxy)');
  return null;
}

/**
 * A telnet client whose first bytes (peeked: they stay for the reader) are another
 * protocol's is refused. `peeked`: how many are in `buffer` already, from the first look;
 * null to look now (behind a proxy, whose header that look took), waiting as a read would.
 */
function foreignClient(fd: number, buffer: Buffer, peeked: number | null): NotServed | null {
  let n = peeked;
  try {
    if (n === null) n = peekHeader(fd, false, true, buffer).peeked;
  } catch {
    return null; // the reader meets the same end and says goodbye
  }
  const what = foreignProtocol(buffer, n);
  return what === null ? null : refused(`not a telnet client: ${what}`);
}

/** After a refusal: discards what comes until the parent has closed the connection. */
function waitForClose(fd: number, buffer: Buffer): void {
  try {
    while ((posix.read(fd, buffer) ?? 1) > 0);
  } catch {
    // The client has gone.
  }
}
