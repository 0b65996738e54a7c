/**
 * The parent's handle on the database (the Storage the loop opens once the zygote is
 * forked): opens the SQLite store in the data directory and hands it to the chat;
 * with --redis, as the copy behind the cluster's shared store. And the start-up
 * rehearsal's, in memory.
 */
import type { Storage } from '../contracts.js';
import type { SharedStore } from './shared-store.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export function sqliteStorage(dir: string | null, onOpen: (store: Store) => void, shared: SharedStore | null = null): Storage {
  let store: SqliteStore | null = null;
  return {
    open(): void {
      store = new SqliteStore(dir);
      if (shared === null) return onOpen(store);
      shared.attach(store);
      onOpen(shared);
    },
    fds: () => store?.fds() ?? [],
    flush: () => store?.flush(),
    close(): void {
      store?.close();
      store = null;
    },
  };
}

/**
 * A database in memory for the start-up rehearsal's stand-in chat, gone when closed: the
 * rehearsal's lines take the same way through a store as real ones. A chat given its
 * store only after the rehearsal had its optimised code thrown away by V8 (docs/bench.md,
 * "The latency tail").
 */
export function memoryStorage(onOpen: (store: Store) => void): Storage {
  return sqliteStorage(null, onOpen);
}
