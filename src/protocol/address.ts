/**
 * Addresses as text. Which clients count as "one address" for the per-address limit:
 * an IPv4 client is its address; an IPv6 client is its network prefix (by default the
 * /64 a provider gives one customer, who can use any of its 2^64 addresses): counting
 * each full address would let one machine take any number of slots. Also the usual
 * form of an address, and address ranges (--trusted-proxy). Pure: no I/O.
 */

/** `HOST:PORT`, with an IPv6 address in brackets (`[::1]:4444`), as in a URL. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The key for `address` (as accept() reports it) with IPv6 addresses cut to `ipv6PrefixBits`. */
export function addressGroup(address: string, ipv6PrefixBits: number): string {
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1]; // an IPv4 client on a dual-stack socket
  const groups = expandIpv6(address);
  if (groups === null || ipv6PrefixBits >= 128) return address;
  const kept: number[] = [];
  for (let i = 0, bits = ipv6PrefixBits; i < 8; i++, bits -= 16) {
    const group = groups[i] ?? 0;
    kept.push(bits >= 16 ? group : bits <= 0 ? 0 : group & (0xffff << (16 - bits)) & 0xffff);
  }
  return `${compressIpv6(kept)}/${ipv6PrefixBits}`;
}

/** The eight 16-bit groups of an IPv6 address in text form (a dotted IPv4 tail allowed: `::ffff:1.2.3.4`), or null when it is not one. */
export function expandIpv6(address: string): number[] | null {
  const [withTail = '', zone] = address.split('%');
  if (zone !== undefined && zone === '') return null;
  let text = withTail;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === null || lastColon < 0) return null;
    text = `${text.slice(0, lastColon + 1)}${((v4[0] ?? 0) * 256 + (v4[1] ?? 0)).toString(16)}:${((v4[2] ?? 0) * 256 + (v4[3] ?? 0)).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    for (const piece of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(piece)) return null;
      groups.push(parseInt(piece, 16));
    }
    return groups;
  };
  const head = parse(halves[0] ?? '');
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return null;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** RFC 5952 text for eight groups: lower case, the longest run of two or more zero groups as `::`. */
export function compressIpv6(groups: readonly number[]): string {
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < groups.length && groups[end] === 0) end++;
    if (end - i > bestLength) [bestAt, bestLength] = [i, end - i];
    i = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLength).join(':')}`;
}

/** The four bytes of a dotted IPv4 address (no leading zeros, which some read as octal), or null. */
export function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return null;
    bytes.push(Number(part));
  }
  return bytes;
}

/** An IPv4 address as the eight groups of its IPv4-mapped IPv6 form (::ffff:a.b.c.d). */
function mappedGroups(bytes: readonly number[]): number[] {
  return [0, 0, 0, 0, 0, 0xffff, (bytes[0] ?? 0) * 256 + (bytes[1] ?? 0), (bytes[2] ?? 0) * 256 + (bytes[3] ?? 0)];
}

/** Any address as eight groups (IPv4 as IPv4-mapped IPv6), or null when it is not an address. */
function addressGroups(address: string): number[] | null {
  const v4 = parseIpv4(address);
  return v4 !== null ? mappedGroups(v4) : expandIpv6(address);
}

/**
 * The usual text of eight address groups: an IPv4-mapped address (an IPv4 client of a
 * dual-stack socket, ::ffff:1.2.3.4) as the IPv4 address, anything else as RFC 5952 IPv6.
 */
export function usualAddress(groups: readonly number[]): string {
  if (groups.slice(0, 6).every((group, i) => group === (i === 5 ? 0xffff : 0))) {
    const [high = 0, low = 0] = groups.slice(6);
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return compressIpv6(groups);
}

/** An address range (--trusted-proxy): IPv4 ones held as IPv4-mapped IPv6, so either form of a client matches. */
export interface AddressRange {
  readonly groups: readonly number[];
  /** Leading bits that must match, of 128. */
  readonly bits: number;
}

/** `10.0.0.0/8`, `fd00::/8`, or one address alone (`127.0.0.1`, `::1`); null when it is none of these. */
export function parseRange(text: string): AddressRange | null {
  const [address = '', length, extra] = text.split('/');
  if (extra !== undefined || address.includes('%')) return null;
  const v4 = parseIpv4(address);
  const groups = v4 !== null ? mappedGroups(v4) : expandIpv6(address);
  if (groups === null) return null;
  const max = v4 !== null ? 32 : 128;
  if (length !== undefined && (!/^(0|[1-9]\d{0,2})$/.test(length) || Number(length) > max)) return null;
  const bits = (length === undefined ? max : Number(length)) + (v4 !== null ? 96 : 0);
  return { groups, bits };
}

/** Whether `address` (either form of an IPv4 address, or IPv6) is in `range`. */
export function inRange(range: AddressRange, address: string): boolean {
  const groups = addressGroups(address);
  if (groups === null) return false;
  for (let i = 0, bits = range.bits; i < 8 && bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if (((groups[i] ?? 0) & mask) !== ((range.groups[i] ?? 0) & mask)) return false;
  }
  return true;
}
