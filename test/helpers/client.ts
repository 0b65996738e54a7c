/** A test chat client over a real TCP socket (node:net is fine here: it is the client, not the server). */
import net from 'node:net';
import { pollUntil } from './poll.js';

export class TestClient {
  readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  closed = false;
  /** Line ends (LF) received so far: a cheap count to poll on. */
  lineEnds = 0;
  private syncs = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) this.lineEnds++;
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
      socket.setNoDelay(true);
      socket.once('connect', () => resolve(new TestClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Every byte received so far (joined lazily: polling a big stream stays linear). */
  get received(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] as Buffer;
  }

  get text(): string {
    return this.received.toString('latin1');
  }

  /** Received lines, split on LF with a CR before it dropped. */
  lines(): string[] {
    const parts = this.text.split('\n');
    parts.pop();
    return parts.map((line) => line.replace(/\r$/, ''));
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  async waitFor(pattern: RegExp | string, timeoutMs = 5_000): Promise<void> {
    const test = (): boolean => (typeof pattern === 'string' ? this.text.includes(pattern) : pattern.test(this.text));
    await pollUntil(test, timeoutMs, `${String(pattern)} (got ${JSON.stringify(this.text.slice(-300))})`);
  }

  /**
   * A barrier, in chat mode: sends a command the server answers to this client only, and
   * waits for the answer. The server sends each client its output in order (a room's lines
   * before anything sent to one client directly), so whatever it had queued for this
   * client before it read the command has arrived by then: what is not here did not come.
   */
  async sync(timeoutMs = 5_000): Promise<void> {
    const tag = `sync${++this.syncs}z`;
    this.send(`/${tag}\r\n`);
    await this.waitFor(`/${tag}`, timeoutMs);
  }

  async waitForClose(timeoutMs = 5_000): Promise<void> {
    await pollUntil(() => this.closed, timeoutMs, 'the server to close the connection');
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The clients opened by connect(), join() and person(), for closeClients() after each test. */
const opened: TestClient[] = [];

/** Connects to `server`, for closeClients() to close. */
export async function connect(server: { port: number }): Promise<TestClient> {
  const client = await TestClient.connect(server.port);
  opened.push(client);
  return client;
}

/** Connects to `server` and waits for the welcome, so the client has its guest name. */
export async function join(server: { port: number }): Promise<TestClient> {
  const client = await connect(server);
  await client.waitFor('Type /help');
  return client;
}

/** Connects to `server`, waits for the welcome, and has the room hear of it (a first command: /rooms). */
export async function present(server: { port: number }): Promise<TestClient> {
  const client = await join(server);
  client.send('/rooms\r\n');
  await client.waitFor('Rooms: ');
  return client;
}

/** Connects to `server` and takes the name `nick`. */
export async function person(server: { port: number }, nick: string): Promise<TestClient> {
  const client = await join(server);
  client.send(`/nick ${nick}\r\n`);
  await client.waitFor(`You are now known as ${nick}.`);
  return client;
}

/** Closes every client connect(), join() and person() opened. */
export function closeClients(): void {
  for (const client of opened.splice(0)) client.close();
}
