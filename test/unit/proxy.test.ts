/**
 * The PROXY protocol header parser (src/protocol/proxy.ts) and the address ranges of
 * --trusted-proxy (src/protocol/address.ts): strict, bounded, and deciding as soon
 * as the bytes allow, whichever way they arrive.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandIpv6, inRange, parseRange, usualAddress } from '../../src/protocol/address.js';
import { parseProxyHeader, PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES, type ProxyHeader } from '../../src/protocol/proxy.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function parse(bytes: Buffer | string): ProxyHeader {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  return parseProxyHeader(buffer, buffer.length);
}

/** A version 2 header: command (0 LOCAL, 1 PROXY), family byte, address block and TLVs. */
function v2(command: number, family: number, block: Buffer, versionNibble = 2): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = (versionNibble << 4) | command;
  fixed[1] = family;
  fixed.writeUInt16BE(block.length, 2);
  return Buffer.concat([SIGNATURE, fixed, block]);
}

function inet(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  return Buffer.concat([Buffer.from(source), Buffer.from(destination), ports]);
}

function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

const ipv6 = (text: string): Buffer => Buffer.from((expandIpv6(text) ?? []).flatMap((group) => [group >> 8, group & 0xff]));

describe('parseProxyHeader(): version 1', () => {
  it('reads TCP4 and TCP6 lines, and says how many bytes the header took', () => {
    const line = 'PROXY TCP4 192.0.2.10 198.51.100.1 56324 4444\r\n';
    expect(parse(`${line}hello\r\n`)).toEqual({ kind: 'header', version: 1, length: line.length, source: { address: '192.0.2.10', port: 56324 }, check: false });
    expect(parse('PROXY TCP6 2001:DB8:0:0::7 ::1 0 65535\r\n')).toMatchObject({ kind: 'header', source: { address: '2001:db8::7', port: 0 } });
  });

  it('gives an IPv4 client of a dual-stack proxy as its IPv4 address', () => {
    expect(parse('PROXY TCP6 ::ffff:192.0.2.10 ::ffff:127.0.0.1 1000 4444\r\n')).toMatchObject({ source: { address: '192.0.2.10', port: 1000 } });
  });

  it('takes UNKNOWN (with or without addresses after it) as a header with no source', () => {
    expect(parse('PROXY UNKNOWN\r\n')).toEqual({ kind: 'header', version: 1, length: 15, source: null, check: false });
    expect(parse('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx')).toMatchObject({ kind: 'header', source: null });
  });

  it('takes the longest headers there are: a TCP6 line, and UNKNOWN followed by one (107 bytes)', () => {
    const addresses = `${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
    expect(parse(`PROXY TCP6 ${addresses}`)).toMatchObject({ kind: 'header', length: PROXY_V1_MAX_BYTES - 3 });
    expect(parse(`PROXY UNKNOWN ${addresses}`)).toMatchObject({ kind: 'header', length: PROXY_V1_MAX_BYTES });
  });

  it('waits for more while the bytes could still become a header', () => {
    const line = 'PROXY TCP4 192.0.2.10 198.51.100.1 56324 4444\r\n';
    for (let cut = 1; cut < line.length; cut++) expect(parse(line.slice(0, cut)), `${cut} bytes`).toEqual({ kind: 'partial' });
  });

  it('refuses a line with no CRLF within 107 bytes, a bare CR or LF, and bytes that are not printable', () => {
    expect(parse(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_BYTES)}`)).toEqual({ kind: 'invalid', reason: 'a version 1 header without CRLF within 107 bytes' });
    expect(parse('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX')).toMatchObject({ kind: 'invalid' });
    expect(parse('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')).toMatchObject({ kind: 'invalid' });
    expect(parse('PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n')).toMatchObject({ kind: 'invalid' });
  });

  it('refuses bad protocols, addresses, ports and spacing', () => {
    for (const line of [
      'PROXY TCP5 1.2.3.4 5.6.7.8 1 2',
      'PROXY tcp4 1.2.3.4 5.6.7.8 1 2',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3',
      'PROXY TCP4  1.2.3.4 5.6.7.8 1 2',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ',
      'PROXY TCP4 1.2.3.256 5.6.7.8 1 2',
      'PROXY TCP4 01.2.3.4 5.6.7.8 1 2',
      'PROXY TCP4 ::1 5.6.7.8 1 2',
      'PROXY TCP6 1.2.3.4 ::1 1 2',
      'PROXY TCP6 fe80::1%eth0 ::1 1 2',
      'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2',
      'PROXY TCP4 1.2.3.4 5.6.7.8 080 2',
      'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 x',
      'PROXY  ',
    ]) {
      expect(parse(`${line}\r\n`), line).toMatchObject({ kind: 'invalid' });
    }
  });

  it('says "none" at the first byte that leaves the signature, and for nothing at all', () => {
    expect(parse('hello\r\n')).toEqual({ kind: 'none' });
    expect(parse('PROXYxTCP4')).toEqual({ kind: 'none' });
    expect(parse('\xff\xfb\x01')).toEqual({ kind: 'none' });
    expect(parse('')).toEqual({ kind: 'none' });
    expect(parse('PROX')).toEqual({ kind: 'partial' });
  });
});

describe('parseProxyHeader(): version 2', () => {
  it('reads TCP over IPv4, with the header length from its length field', () => {
    const header = v2(1, 0x11, inet([192, 0, 2, 10], [127, 0, 0, 1], 40000, 4444));
    expect(parse(Buffer.concat([header, Buffer.from('hello')]))).toEqual({ kind: 'header', version: 2, length: 28, source: { address: '192.0.2.10', port: 40000 }, check: false });
  });

  it('reads TCP over IPv6, an IPv4-mapped address as IPv4', () => {
    const ports = Buffer.from([0x9c, 0x40, 0x11, 0x5c]);
    expect(parse(v2(1, 0x21, Buffer.concat([ipv6('2001:db8::5'), ipv6('::1'), ports])))).toMatchObject({ source: { address: '2001:db8::5', port: 40000 } });
    expect(parse(v2(1, 0x21, Buffer.concat([ipv6('::ffff:203.0.113.9'), ipv6('::1'), ports])))).toMatchObject({ source: { address: '203.0.113.9' } });
  });

  it('takes LOCAL (a health check) and UNSPEC or Unix-socket sources as a header with no source; only LOCAL as a check', () => {
    expect(parse(v2(0, 0x00, Buffer.alloc(0)))).toEqual({ kind: 'header', version: 2, length: 16, source: null, check: true });
    expect(parse(v2(0, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toMatchObject({ kind: 'header', source: null, check: true });
    expect(parse(v2(1, 0x00, Buffer.alloc(0)))).toMatchObject({ kind: 'header', source: null, check: false });
    expect(parse(v2(1, 0x31, Buffer.alloc(216)))).toMatchObject({ kind: 'header', length: 16 + 216, source: null, check: false });
  });

  it('skips well-formed TLVs after the addresses', () => {
    const block = Buffer.concat([inet([10, 0, 0, 1], [10, 0, 0, 2], 1, 2), tlv(0x01, Buffer.from('h2')), tlv(0x04, Buffer.alloc(0)), tlv(0x20, Buffer.alloc(300))]);
    expect(parse(v2(1, 0x11, block))).toMatchObject({ kind: 'header', length: 16 + block.length, source: { address: '10.0.0.1', port: 1 } });
  });

  it('waits for the whole header, however it is cut', () => {
    const header = v2(1, 0x11, Buffer.concat([inet([10, 0, 0, 1], [10, 0, 0, 2], 1, 2), tlv(0x01, Buffer.from('h2'))]));
    for (let cut = 1; cut < header.length; cut++) expect(parse(header.subarray(0, cut)), `${cut} bytes`).toEqual({ kind: 'partial' });
  });

  it('refuses other versions, commands, transports, short address blocks, bad TLVs and an oversized length', () => {
    const block = inet([10, 0, 0, 1], [10, 0, 0, 2], 1, 2);
    expect(parse(v2(1, 0x11, block, 1))).toEqual({ kind: 'invalid', reason: 'a version 2 signature with version 1' });
    expect(parse(v2(2, 0x11, block))).toMatchObject({ kind: 'invalid' });
    expect(parse(v2(1, 0x12, block))).toMatchObject({ kind: 'invalid' }); // UDP over IPv4
    expect(parse(v2(1, 0x41, block))).toMatchObject({ kind: 'invalid' });
    expect(parse(v2(1, 0x21, block))).toMatchObject({ kind: 'invalid' }); // 12 bytes cannot hold IPv6 addresses
    expect(parse(v2(1, 0x11, Buffer.concat([block, Buffer.from([0x01, 0x00])])))).toEqual({ kind: 'invalid', reason: 'a version 2 header with a cut TLV' });
    expect(parse(v2(1, 0x11, Buffer.concat([block, Buffer.from([0x01, 0x00, 0x05, 0x61])])))).toMatchObject({ kind: 'invalid' });
    const oversized = v2(1, 0x11, Buffer.alloc(PROXY_V2_MAX_BYTES)).subarray(0, 16);
    expect(parse(oversized)).toEqual({ kind: 'invalid', reason: `a version 2 header of ${16 + PROXY_V2_MAX_BYTES} bytes (at most ${PROXY_V2_MAX_BYTES})` });
  });

  it('decides on any bytes without throwing, and never claims more bytes than it was given', () => {
    const starts = fc.constantFrom(Buffer.alloc(0), SIGNATURE, Buffer.from('PROXY '), Buffer.from('PROXY TCP4 '));
    fc.assert(
      fc.property(starts, fc.uint8Array({ maxLength: 200 }), (start, rest) => {
        const bytes = Buffer.concat([start, rest]);
        const result = parseProxyHeader(bytes, bytes.length);
        if (result.kind === 'header') expect(result.length).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });
});

describe('parseRange() and inRange(): --trusted-proxy', () => {
  it('matches an IPv4 range, whichever form the address comes in', () => {
    const range = parseRange('10.0.0.0/8');
    expect(range).not.toBeNull();
    if (range === null) return;
    expect(inRange(range, '10.200.3.4')).toBe(true);
    expect(inRange(range, '::ffff:10.200.3.4')).toBe(true);
    expect(inRange(range, '11.0.0.1')).toBe(false);
    expect(inRange(range, '::1')).toBe(false);
  });

  it('takes one address alone, and IPv6 ranges cut inside a group', () => {
    const one = parseRange('127.0.0.1');
    const v6 = parseRange('2001:db8:ab00::/40');
    const all = parseRange('::/0');
    if (one === null || v6 === null || all === null) throw new Error('ranges did not parse');
    expect(inRange(one, '127.0.0.1')).toBe(true);
    expect(inRange(one, '127.0.0.2')).toBe(false);
    expect(inRange(v6, '2001:db8:abff::1')).toBe(true);
    expect(inRange(v6, '2001:db8:ac00::1')).toBe(false);
    expect(inRange(all, '192.0.2.1')).toBe(true);
    expect(inRange(all, 'not an address')).toBe(false);
  });

  it('refuses names, bad lengths and zones', () => {
    for (const bad of ['localhost', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/08', '1.2.3.4/8/8', 'fe80::1%lo', '']) expect(parseRange(bad), bad).toBeNull();
  });

  it('prints IPv4-mapped groups as IPv4, other groups as RFC 5952 IPv6', () => {
    expect(usualAddress([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0207])).toBe('192.0.2.7');
    expect(usualAddress([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])).toBe('2001:db8::1');
    expect(expandIpv6('::ffff:192.0.2.7')).toEqual([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0207]);
    expect(expandIpv6('::ffff:192.0.2')).toBeNull();
  });
});
