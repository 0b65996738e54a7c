/** WebSocket frames as a client sends them, and a WebSocket opened by hand over a raw socket. */
import { TestClient } from './client.js';

export interface FrameOptions {
  fin?: boolean;
  masked?: boolean;
  rsv?: number;
  /** Claim this length in the header instead of the payload's. */
  claim?: number;
}

/** A frame as a client sends it: masked (unless told), final (unless told). */
export function clientFrame(opcode: number, payload: Buffer | string, options: FrameOptions = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const { fin = true, masked = true, rsv = 0 } = options;
  const length = options.claim ?? data.length;
  const head: number[] = [(fin ? 0x80 : 0) | rsv | opcode];
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) head.push(maskBit | length);
  else if (length < 0x10000) head.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    head.push(maskBit | 127, ...big);
  }
  const mask = [0x12, 0x34, 0x56, 0x78];
  if (!masked) return Buffer.concat([Buffer.from(head), data]);
  const body = Buffer.from(data.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([Buffer.from([...head, ...mask]), body]);
}

/** The end of the 101 response in what `client` received, or -1. */
function headEnd(client: TestClient): number {
  const at = client.received.indexOf('\r\n\r\n');
  return at === -1 ? -1 : at + 4;
}

/** Opens a WebSocket by hand on a raw socket; `frames()` then gives what came after the 101. */
export async function rawWebSocket(port: number, host = '127.0.0.1'): Promise<{ client: TestClient; frames: () => Buffer }> {
  const client = await TestClient.connect(port, host);
  client.send(`GET /ws HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  await client.waitFor('\r\n\r\n');
  if (!client.text.startsWith('HTTP/1.1 101 ')) throw new Error(`no upgrade: ${client.text}`);
  return { client, frames: () => client.received.subarray(headEnd(client)) };
}

/** The close frame `code` would be as the server sends it (no reason). */
export function serverClose(code: number): Buffer {
  return Buffer.from([0x88, 2, code >> 8, code & 0xff]);
}

/** The web port a server started with `--web-port 0` printed. */
export function webPortOf(stdout: string): number {
  const match = /Web page on http:\/\/.*:(\d+)\//.exec(stdout);
  if (match === null) throw new Error(`no web port in: ${stdout}`);
  return Number(match[1]);
}
