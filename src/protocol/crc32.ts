/**
 * CRC-32 (IEEE 802.3, the one zlib computes) over a byte range of a Buffer. Written
 * out rather than taken from zlib.crc32 because that needs a view object per call,
 * and the child must allocate nothing per message (a child that never collects
 * garbage never copies the parent's heap pages).
 *
 * Eight bytes a step ("slicing-by-8", as zlib and the Linux kernel do it): table k
 * gives a byte's effect on the CRC when k more bytes follow it, so the eight lookups
 * of a step do not wait on one another, where a byte at a time makes each lookup wait
 * for the one before (docs/bench.md, "The child's bytes", has the figures).
 */
const TABLES = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLES[n] = c;
}
for (let table = 1; table < 8; table++) {
  for (let n = 0; n < 256; n++) {
    const before = TABLES[(table - 1) * 256 + n] ?? 0;
    TABLES[table * 256 + n] = (before >>> 8) ^ (TABLES[before & 0xff] ?? 0);
  }
}

/**
 * The CRC as a signed 32-bit integer (`>>> 0` gives zlib's unsigned value). Signed,
 * because every step then stays a 32-bit integer in V8's optimised code; an unsigned
 * result above 2^31 would be a heap number, and a child must not allocate.
 */
export function crc32(buffer: Uint8Array, start = 0, end = buffer.length): number {
  const t = TABLES;
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const low = crc ^ ((buffer[i] ?? 0) | ((buffer[i + 1] ?? 0) << 8) | ((buffer[i + 2] ?? 0) << 16) | ((buffer[i + 3] ?? 0) << 24));
    crc =
      (t[1792 + (low & 0xff)] ?? 0) ^
      (t[1536 + ((low >>> 8) & 0xff)] ?? 0) ^
      (t[1280 + ((low >>> 16) & 0xff)] ?? 0) ^
      (t[1024 + (low >>> 24)] ?? 0) ^
      (t[768 + (buffer[i + 4] ?? 0)] ?? 0) ^
      (t[512 + (buffer[i + 5] ?? 0)] ?? 0) ^
      (t[256 + (buffer[i + 6] ?? 0)] ?? 0) ^
      (t[buffer[i + 7] ?? 0] ?? 0);
  }
  for (; i < end; i++) crc = (t[(crc ^ (buffer[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return ~crc;
}
