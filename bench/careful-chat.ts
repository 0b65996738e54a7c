/**
 * The bench's headline peer: the chat a careful Node engineer would write with
 * node:net, doing posix-chat's per-line work in one process. Each client gets a
 * name and a welcome, the room hears who joined and left (while at most 1,000
 * would hear it, as in posix-chat), and each read's complete lines are prefixed
 * `[HH:MM] <nick> ` and go to every other client in one write per recipient per
 * read. It keeps no history and has no commands, flood control or send-queue limit
 * (socket.write() buffers without bound).
 * Usage: node careful-chat.js [port]  (prints "Listening on 127.0.0.1:PORT...")
 */
import net from 'node:net';

/** A line longer than this without a newline is cut, so one client cannot grow our memory without bound. */
const MAX_LINE_CHARS = 4096;

interface Client {
  socket: net.Socket;
  nick: string;
}

const clients = new Set<Client>();
let guests = 0;

/** `[HH:MM] `, built once a minute rather than once a read. */
let stampMinute = -1;
let stampText = '';
function stamp(): string {
  const now = Date.now();
  const minute = Math.floor(now / 60_000);
  if (minute !== stampMinute) {
    const date = new Date(now);
    stampMinute = minute;
    stampText = `[${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}] `;
  }
  return stampText;
}

function toOthers(from: Client, text: string): void {
  for (const other of clients) if (other !== from) other.socket.write(text);
}

/**
 * Arrivals and departures are told only while at most this many others would hear,
 * as posix-chat does by default (--announce-up-to): in a crowd they would drown
 * what is said, and cost a write to everyone for each arrival.
 */
const ANNOUNCE_UP_TO = 1000;

function announce(about: Client, text: string): void {
  const hearers = clients.size - (clients.has(about) ? 1 : 0);
  if (hearers <= ANNOUNCE_UP_TO) toOthers(about, text);
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.setEncoding('utf8'); // a character split across two reads is joined by the decoder
  const me: Client = { socket, nick: `guest-${++guests}` };
  clients.add(me);
  socket.write(`Welcome, ${me.nick}!\r\n`);
  announce(me, `${stamp()}*** ${me.nick} joined\r\n`);
  let pending = '';
  socket.on('data', (chunk: string) => {
    const text = pending + chunk;
    const end = text.lastIndexOf('\n');
    if (end === -1) {
      pending = text.length > MAX_LINE_CHARS ? '' : text;
      return;
    }
    pending = text.slice(end + 1);
    const prefix = `${stamp()}<${me.nick}> `;
    let out = '';
    let from = 0;
    while (from <= end) {
      const newline = text.indexOf('\n', from);
      const stop = newline > from && text.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
      if (stop > from) out += prefix + text.slice(from, Math.min(stop, from + MAX_LINE_CHARS)) + '\r\n';
      from = newline + 1;
    }
    if (out !== '') toOthers(me, out);
  });
  socket.on('close', () => {
    if (clients.delete(me)) announce(me, `${stamp()}*** ${me.nick} left\r\n`);
  });
  socket.on('error', () => socket.destroy());
});

// The kernel's queue of connections not yet accepted: posix-chat's default (--backlog), not
// node's 511. When a storm overflows a short one, connections whose handshake ended on a
// SYN cookie are open for the client and unknown to us, and a client that waits for the
// welcome waits for ever (docs/bench.md, "The peers at 10,000").
server.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1', backlog: 4096 }, () => {
  const address = server.address() as net.AddressInfo;
  console.log(`Listening on 127.0.0.1:${address.port}...`);
});
process.on('SIGTERM', () => process.exit(0));
