/**
 * The reference for the benchmark: the idiomatic single-process node:net broadcast
 * chat. A line in, the same line out to every other client, nothing more.
 * Usage: node reference-server.js [port]  (prints "Listening on 127.0.0.1:PORT...")
 */
import net from 'node:net';

const clients = new Set<net.Socket>();

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  clients.add(socket);
  let pending = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    const text = pending + chunk;
    const end = text.lastIndexOf('\n');
    if (end === -1) {
      pending = text;
      return;
    }
    pending = text.slice(end + 1);
    const lines = text.slice(0, end + 1);
    for (const other of clients) if (other !== socket) other.write(lines, 'latin1');
  });
  socket.on('close', () => clients.delete(socket));
  socket.on('error', () => socket.destroy());
});

// posix-chat's default backlog, not node's 511, as in careful-chat.ts, which says why.
server.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1', backlog: 4096 }, () => {
  const address = server.address() as net.AddressInfo;
  console.log(`Listening on 127.0.0.1:${address.port}...`);
});
process.on('SIGTERM', () => process.exit(0));
