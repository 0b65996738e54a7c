/**
 * Which clients count as "one address" for the per-address limit. An IPv4 client is
 * its address. An IPv6 client is its network prefix (by default the /64 a provider
 * gives one customer, who can use any of its 2^64 addresses): counting each full
 * address would let one machine take any number of slots. Pure: no I/O.
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

/** The eight 16-bit groups of an IPv6 address in text form, or null when it is not one. */
export function expandIpv6(address: string): number[] | null {
  const [text = '', zone] = address.split('%');
  if (zone !== undefined && zone === '') return null;
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
