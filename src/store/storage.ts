/**
 * The parent's handle on the database (the Storage the loop opens once the zygote is
 * forked): opens the SQLite store in the data directory and hands it to the chat;
 * with --redis, as the copy behind the cluster's shared store.
 */
import type { Storage } from '../contracts.js';
import type { SharedStore } from './shared-store.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export function sqliteStorage(dir: string, onOpen: (store: Store) => void, shared: SharedStore | null = null): Storage {
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
