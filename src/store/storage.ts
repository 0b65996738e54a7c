/**
 * The parent's handle on the database (the Storage the loop opens once the zygote is
 * forked): opens the SQLite store in the data directory and hands it to the chat;
 * with --redis, as the copy behind the cluster's shared store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

/**
 * A database of its own for the start-up rehearsal's stand-in chat, in a temporary
 * directory removed on close: the rehearsal's lines take the same way through a store
 * as real ones. A chat given its store only after the rehearsal had its optimised code
 * thrown away by V8 (docs/bench.md, "The latency tail"). When the directory cannot be
 * made, the rehearsal goes on without a store.
 */
export function throwAwayStorage(onOpen: (store: Store) => void): Storage {
  let dir = '';
  let inner: Storage | null = null;
  const close = (): void => {
    inner?.close();
    inner = null;
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  };
  return {
    open(): void {
      try {
        dir = mkdtempSync(path.join(tmpdir(), 'posix-chat-rehearsal-'));
        inner = sqliteStorage(dir, onOpen);
        inner.open();
      } catch {
        close();
      }
    },
    fds: () => inner?.fds() ?? [],
    flush: () => inner?.flush(),
    close,
  };
}
