/**
 * CRC-32 (IEEE 802.3, the one zlib computes) over a byte range of a Buffer. Written
 * out rather than taken from zlib.crc32 because that needs a view object per call,
 * and the child must allocate nothing per message (a child that never collects
 * garbage never copies the parent's heap pages).
 */
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/**
 * The CRC as a signed 32-bit integer (`>>> 0` gives zlib's unsigned value). Signed,
 * because every step then stays a 32-bit integer in V8's optimised code; an unsigned
 * result above 2^31 would be a heap number, and a child must not allocate.
 */
export function crc32(buffer: Uint8Array, start = 0, end = buffer.length): number {
  let crc = -1;
  for (let i = start; i < end; i++) crc = (TABLE[(crc ^ (buffer[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return ~crc;
}
