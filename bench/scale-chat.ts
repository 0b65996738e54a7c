/**
 * The two who chat during the storm and scale steps, in a process of their own
 * (scale.ts forks it: `scale-chat.js PORT EVERY_MS SETTLE_MS`). Timed here, a line's
 * latency is the server's and the machine's, not the load generator's: the step's own
 * event loop meanwhile handles the crowd's sockets, and when 10,000 connect at once it
 * is itself late by up to a few hundred ms (docs/bench.md, "The scale step's own lag").
 *
 * Over the IPC channel: it says `ready` once both are connected and have been served
 * for SETTLE_MS; on `start` the speaker sends a line at once, then one every EVERY_MS;
 * on `stop` it stops, gives the last lines a second, and answers with each line's
 * latency in ms (null for one never seen).
 */
import type net from 'node:net';
import { connect, now, watchMarks } from './load.js';

export type ChatMessage = { kind: 'ready' } | { kind: 'latencies'; ms: (number | null)[] };
export type ChatCommand = 'start' | 'stop';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function say(message: ChatMessage): void {
  process.send?.(message);
}

async function main(port: number, everyMs: number, settleMs: number): Promise<void> {
  const [speaker, listener] = [await connect(port), await connect(port)] as [net.Socket, net.Socket];
  speaker.on('error', () => {});
  listener.on('error', () => {});
  await sleep(settleMs); // both are served before the crowd
  const sent: number[] = [];
  const arrived = new Map<number, number>();
  watchMarks(listener, /~S(\d+)~/g, (value, at) => {
    if (!arrived.has(Number(value))) arrived.set(Number(value), at);
  });
  let timer: NodeJS.Timeout | null = null;
  process.on('message', (command: ChatCommand) => {
    if (command === 'start' && timer === null) {
      // The first line goes at once: a crowd served within everyMs still has one line timed.
      const chat = (): void => {
        sent.push(now());
        speaker.write(`~S${sent.length - 1}~\r\n`);
      };
      chat();
      timer = setInterval(chat, everyMs);
    } else if (command === 'stop') {
      if (timer !== null) clearInterval(timer);
      void sleep(1_000).then(() => {
        say({ kind: 'latencies', ms: sent.map((at, i) => (arrived.has(i) ? (arrived.get(i) as number) - at : null)) });
        speaker.destroy();
        listener.destroy();
        process.disconnect();
      });
    }
  });
  say({ kind: 'ready' });
}

void main(Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]));
