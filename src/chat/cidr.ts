/**
 * Address bans: an IPv4 or IPv6 address or CIDR block, matched against a client's
 * address as accept() gives it (an IPv4 client on an IPv6 socket as ::ffff:a.b.c.d). Pure.
 */
import { compressIpv6, expandIpv6 } from '../protocol/address.js';

export interface Block {
  /** The block as shown and stored: `10.0.0.0/8`, `2001:db8::/32`, `127.0.0.2`. */
  text: string;
  v6: boolean;
  /** The address as a number (32 or 128 bits), cut to the prefix. */
  base: bigint;
  bits: number;
}

function ipv4(text: string): bigint | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return null;
  let value = 0n;
  for (const part of m.slice(1)) {
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function ipv6(text: string): bigint | null {
  const groups = expandIpv6(text);
  if (groups === null) return null;
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

function mask(value: bigint, bits: number, width: number): bigint {
  const drop = BigInt(width - bits);
  return (value >> drop) << drop;
}

/** The block `text` names, or null when it is not an address or CIDR block. */
export function parseBlock(text: string): Block | null {
  const [address = '', prefix, extra] = text.split('/');
  if (extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const v4 = ipv4(mapped ?? address);
  if (v4 !== null) {
    const bits = prefix === undefined ? 32 : Number(prefix);
    if (bits > 32) return null;
    const base = mask(v4, bits, 32);
    const dotted = [24n, 16n, 8n, 0n].map((shift) => String((base >> shift) & 255n)).join('.');
    return { text: bits === 32 ? dotted : `${dotted}/${bits}`, v6: false, base, bits };
  }
  const v6 = ipv6(address);
  if (v6 === null) return null;
  const bits = prefix === undefined ? 128 : Number(prefix);
  if (bits > 128) return null;
  const base = mask(v6, bits, 128);
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((base >> shift) & 0xffffn));
  const shown = compressIpv6(groups);
  return { text: bits === 128 ? shown : `${shown}/${bits}`, v6: true, base, bits };
}

/** Whether the client address `address` is in `block`. */
export function inBlock(block: Block, address: string): boolean {
  const client = parseBlock(address);
  if (client === null || client.v6 !== block.v6) return false;
  return mask(client.base, block.bits, block.v6 ? 128 : 32) === block.base;
}
