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
//
// Before both, node starts again (execve(): the same pid) with
// build/Release/mmap_without_hints.so preloaded, which keeps V8's heap in one place of
// the address space instead of scattered over it, so that each forked child needs far
// fewer page tables (native/mmap-without-hints.c says why). POSIX_CHAT_KEEP_MMAP_HINTS=1
// leaves node as it is.
const path = require('node:path');
const { existsSync } = require('node:fs');

let posix = null;
try {
  posix = require('../build/Release/posix.node');
} catch {
  // Not built: src/posix/binding.ts explains how to build it when the CLI loads it below.
}

const preload = path.join(__dirname, '../build/Release/mmap_without_hints.so');
const preloaded = (process.env.LD_PRELOAD ?? '').split(/[: ]/).includes(preload);
if (posix !== null && !preloaded && process.env.POSIX_CHAT_KEEP_MMAP_HINTS !== '1' && existsSync(preload)) {
  const others = process.env.LD_PRELOAD ?? '';
  const env = { ...process.env, LD_PRELOAD: others === '' ? preload : `${preload}:${others}` };
  const argv = [process.argv0, ...process.execArgv, ...process.argv.slice(1)]; // as it was started
  // node has marked stdin, stdout and stderr close-on-exec: they must reach the new program.
  for (const fd of [0, 1, 2]) {
    try {
      posix.fcntl(fd, 'F_SETFD', posix.fcntl(fd, 'F_GETFD') & ~posix.constants.FD_CLOEXEC);
    } catch {
      // Not open: node opens /dev/null in its place.
    }
  }
  posix.execve(process.execPath, argv, Object.entries(env).map(([name, value]) => `${name}=${value}`));
}

posix?.sigprocmask('block', ['SIGUSR1', 'SIGCHLD', 'SIGTERM', 'SIGINT', 'SIGHUP']);

import('../dist/cli.js').then(async ({ main }) => {
  process.exitCode = await main(process.argv.slice(2));
});
