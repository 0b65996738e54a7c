/**
 * The Redis link's publishing: this server's events, in order, into the shared
 * stream, and its private messages into their target servers' inboxes, with the
 * presence changes they imply; each batch acked to the parent once Redis has it.
 * Runs in the link process (src/cluster/redis-link.ts).
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { ChatEvent, FromLink, ToLink } from './protocol.js';
import { INBOX_MAX_LENGTH, INBOX_TTL_SECONDS, inboxKey, nickKey, RELEASE_SCRIPT, STREAM_KEY, STREAM_MAX_LENGTH, usersKey, type LinkSettings } from './redis-schema.js';
import { ThrottledLog, type Logger } from '../log.js';

const PUBLISH_BATCH = 200;
export const RETRY_MS = 500;
/** One log line at most this often for a publish that keeps failing. */
const FAILURE_LOG_MS = 10_000;

export type Published = Extract<ToLink, { t: 'pub' }>;

/** What publishing needs of the link. */
export interface PublishContext {
  readonly settings: LinkSettings;
  readonly commands: Redis;
  readonly log: Logger;
  send(message: FromLink): boolean;
  /** Logs (throttled) a command Redis refused. */
  refused(what: string, error: unknown): void;
}

/** Appends one of this server's events to the stream (or `key`, an inbox); `seq` 0: not numbered, never a duplicate. */
export function addEvent(pipeline: ChainableCommander, settings: LinkSettings, seq: number, ev: ChatEvent, key = STREAM_KEY, maxLength = STREAM_MAX_LENGTH): void {
  pipeline.xadd(key, 'MAXLEN', '~', maxLength, '*', 'o', settings.instance, 'srv', settings.server, 's', seq, 'e', JSON.stringify(ev));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class LinkPublisher {
  private readonly outbox: Published[] = [];
  private publishing = false;
  private readonly log: ThrottledLog;

  constructor(private readonly link: PublishContext) {
    this.log = new ThrottledLog(link.log, FAILURE_LOG_MS);
  }

  /** Queues an event; run() sends it. */
  queue(message: Published): void {
    this.outbox.push(message);
  }

  /**
   * XADDs queued events in order, a batch at a time (pipelined), with the presence
   * changes they imply, then acks the batch. A batch whose XADDs failed is sent again
   * whole: the receivers drop what they already have by its seq. A presence change
   * Redis refuses is logged, not retried: the next registration sets presence anew.
   */
  async run(): Promise<void> {
    if (this.publishing) return;
    this.publishing = true;
    try {
      while (this.outbox.length > 0) {
        const batch = this.outbox.slice(0, PUBLISH_BATCH);
        const pipeline = this.link.commands.pipeline();
        const adds: number[] = [];
        for (const message of batch) {
          adds.push(pipeline.length);
          this.addPublished(pipeline, message);
          this.presenceCommands(pipeline, message.ev);
        }
        const results = await pipeline.exec();
        const failed = results === null ? 'no reply' : this.failedAdd(batch, adds, results);
        results?.forEach(([error], i) => error !== null && !adds.includes(i) && this.link.refused('updating presence', error));
        if (failed !== undefined) {
          this.log.warn(`publishing failed (${failed}); retrying, the chat here goes on`);
          await sleep(RETRY_MS);
          continue;
        }
        this.outbox.splice(0, batch.length);
        const last = batch.at(-1);
        if (last !== undefined) this.link.send({ t: 'ack', seq: last.seq });
      }
    } finally {
      this.publishing = false;
    }
  }

  /**
   * Why a batch must be sent again (an XADD Redis refused), or undefined. A private
   * message whose inbox holds something else (WRONGTYPE) is given up, not retried: it
   * would never go, and would hold up everything after it.
   */
  private failedAdd(batch: readonly Published[], adds: readonly number[], results: [Error | null, unknown][]): string | undefined {
    for (const [k, i] of adds.entries()) {
      const error = results[i]?.[0] ?? null;
      if (error === null) continue;
      const to = batch[k]?.to;
      if (to === undefined || !error.message.startsWith('WRONGTYPE')) return error.message;
      this.log.warn(`a private message for server ${to} is given up: Redis said ${error.message}`);
    }
    return undefined;
  }

  /** A public event to the stream; a private message to its target server's inbox only, which it outlives by no more than INBOX_TTL_SECONDS. */
  private addPublished(pipeline: ChainableCommander, { seq, ev, to }: Published): void {
    if (ev.k !== 'msg' || to === undefined) return addEvent(pipeline, this.link.settings, seq, ev);
    addEvent(pipeline, this.link.settings, seq, ev, inboxKey(to), INBOX_MAX_LENGTH);
    pipeline.expire(inboxKey(to), INBOX_TTL_SECONDS);
  }

  private presenceCommands(pipeline: ChainableCommander, ev: ChatEvent): void {
    const me = this.link.settings.instance;
    const users = usersKey(me);
    if (ev.k === 'join') pipeline.hset(users, ev.nick, ev.room);
    else if (ev.k === 'move') pipeline.hset(users, ev.nick, ev.to);
    else if (ev.k === 'rename') {
      pipeline.hdel(users, ev.old).hset(users, ev.nick, ev.room);
      if (nickKey(ev.old) !== nickKey(ev.nick)) pipeline.eval(RELEASE_SCRIPT, 1, nickKey(ev.old), me);
    } else if (ev.k === 'leave') {
      pipeline.hdel(users, ev.nick);
      pipeline.eval(RELEASE_SCRIPT, 1, nickKey(ev.nick), me);
    }
  }
}
