/**
 * npm run soak: a bounded run (60 s by default, --seconds N) in which 200 clients
 * join and leave a running server while those online chat. Prints lines sent,
 * deliveries expected and received, lost and duplicated, and the server's RSS at
 * the start and the end. Exits 1 if anything was lost or duplicated.
 */
import net from 'node:net';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startPosixChat } from './spawn-server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] || 60) || 60;
const TOTAL_CLIENTS = 200;
const CONCURRENT = 50;
const SEND_EVERY_MS = 500;
/** A line counts as due to a client online from before it was sent until this long after. */
const GRACE_MS = 2_000;

interface Client {
  id: number;
  socket: net.Socket;
  joinedAt: number;
  leftAt: number;
  received: Map<string, number>;
  timer?: NodeJS.Timeout;
}

interface Sent {
  key: string;
  from: number;
  at: number;
}

function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

async function main(): Promise<number> {
  const server = await startPosixChat(root, ['--rate-limit', '0', '--max-per-ip', '0', '--log-level', 'warn', '--history', '0']);
  const rssStart = rssKiB(server.pid);
  const clients: Client[] = [];
  const sent: Sent[] = [];
  let next = 0;
  const started = Date.now();
  const stopAt = started + seconds * 1000;

  const join = (): void => {
    const id = next++;
    const socket = net.connect(server.port, '127.0.0.1');
    const client: Client = { id, socket, joinedAt: Infinity, leftAt: Infinity, received: new Map() };
    clients.push(client);
    let buffer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\r\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const match = / S(\d+:\d+)$/.exec(line);
        if (match) client.received.set(match[1] as string, (client.received.get(match[1] as string) ?? 0) + 1);
        else if (line.includes('Type /help')) client.joinedAt = Date.now();
      }
    });
    socket.on('error', () => {});
    let seq = 0;
    client.timer = setInterval(() => {
      if (client.joinedAt === Infinity || Date.now() > stopAt - GRACE_MS) return;
      const key = `${id}:${seq++}`;
      sent.push({ key, from: id, at: Date.now() });
      socket.write(`soak line S${key}\r\n`);
    }, SEND_EVERY_MS);
    const lifetime = 5_000 + Math.random() * 15_000;
    setTimeout(() => leave(client), lifetime);
  };

  const leave = (client: Client): void => {
    if (client.leftAt !== Infinity) return;
    client.leftAt = Date.now();
    clearInterval(client.timer);
    client.socket.end();
    if (next < TOTAL_CLIENTS && Date.now() < stopAt - GRACE_MS) join();
  };

  for (let i = 0; i < CONCURRENT; i++) join();
  while (Date.now() < stopAt) await new Promise((resolve) => setTimeout(resolve, 250));
  for (const client of clients) {
    clearInterval(client.timer);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  const rssEnd = rssKiB(server.pid);
  for (const client of clients) if (client.leftAt === Infinity) { client.leftAt = Date.now(); client.socket.destroy(); }
  await server.stop();

  let expected = 0;
  let received = 0;
  let lost = 0;
  let duplicated = 0;
  for (const line of sent) {
    for (const client of clients) {
      if (client.id === line.from) continue;
      const due = client.joinedAt < line.at && client.leftAt > line.at + GRACE_MS;
      const got = client.received.get(line.key) ?? 0;
      if (got > 1) duplicated += got - 1;
      if (!due) continue;
      expected++;
      if (got === 0) lost++;
      else received++;
    }
  }
  console.log(`soak: ${seconds} s, ${next} clients (${CONCURRENT} at a time, joining and leaving)`);
  console.log(`lines sent          ${sent.length}`);
  console.log(`deliveries due      ${expected}`);
  console.log(`deliveries received ${received}`);
  console.log(`lost                ${lost}`);
  console.log(`duplicated          ${duplicated}`);
  console.log(`server RSS          start ${(rssStart / 1024).toFixed(1)} MiB, end ${(rssEnd / 1024).toFixed(1)} MiB`);
  return lost === 0 && duplicated === 0 ? 0 : 1;
}

process.exitCode = await main();
