#!/usr/bin/env -S node --single-threaded --use-largepages=silent
'use strict';
// The posix-chat command. Two things must happen before any other code runs:
//
// 1. node runs with --single-threaded (the line above): without it a forked child
//    hangs for ever in its first garbage collection (docs/architecture.md, "The traps").
//    (--use-largepages is for speed: node's code is copied into anonymous huge pages,
//    which every fork() hands on, so a new child does not fault each page of it in
//    again; where the kernel has no huge pages it is left as it was. docs/bench.md.)
// 2. The main thread blocks the signals the server's loop waits for, before anything
//    starts Node's thread pool: a new thread inherits the mask of the thread that
//    creates it, so every pool thread then blocks them too and none can take a
//    SIGUSR1 meant for sigtimedwait(). This file is CommonJS because loading an ES
//    module starts the pool; the list matches WAIT_SIGNALS in src/parent/signal-wait.ts.
try {
  require('../build/Release/posix.node').sigprocmask('block', ['SIGUSR1', 'SIGCHLD', 'SIGTERM', 'SIGINT', 'SIGHUP']);
} catch {
  // Not built: src/posix/binding.ts explains how to build it when the CLI loads it below.
}

import('../dist/cli.js').then(async ({ main }) => {
  process.exitCode = await main(process.argv.slice(2));
});
