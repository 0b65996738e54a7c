/**
 * build/Release/mmap_without_hints.so (native/mmap-without-hints.c), which the server
 * preloads so that V8's heap is not scattered over the address space and each forked
 * child needs few page tables. The library itself, through python3's ctypes: mmap() with
 * and without it. Then the server: started again with it, its stdio kept, and its
 * children's page tables against a server that keeps the hints (POSIX_CHAT_KEEP_MMAP_HINTS=1).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { join } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed } from './helpers/processes.js';
import { ROOT, startServer, stopAllServers, type RunningServer } from './helpers/server.js';

const LIBRARY = path.join(ROOT, 'build/Release/mmap_without_hints.so');

afterEach(async () => {
  await stopAllServers();
});

/**
 * Where mmap() puts anonymous mappings asked for at a hint far from everything else, as
 * python3 sees it (ctypes calls libc's mmap, which the preloaded library replaces): for a
 * page, for 128 MiB, and for a page with MAP_FIXED_NOREPLACE. Each answer: whether the
 * mapping is at the hint.
 */
function atHint(preload: boolean): { page: boolean; large: boolean; fixed: boolean } {
  const script = `
import ctypes, json, mmap
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
MAP_FIXED_NOREPLACE = 0x100000
def at(hint, size, extra=0):
    got = libc.mmap(hint, size, mmap.PROT_READ, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | extra, -1, 0)
    return got == hint
print(json.dumps({"page": at(0x3e0000000000, 4096), "large": at(0x3d0000000000, 128 << 20), "fixed": at(0x3c0000000000, 4096, MAP_FIXED_NOREPLACE)}))
`;
  const env = { ...process.env, LD_PRELOAD: preload ? LIBRARY : '' };
  const run = spawnSync('python3', ['-c', script], { env, encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as { page: boolean; large: boolean; fixed: boolean };
}

/** A spare's page tables, in kB (VmPTE), once the server has one. */
async function sparePageTablesKiB(server: RunningServer): Promise<number> {
  await pollUntil(() => childrenNamed(server.pid, 'posix-spare').length > 0, 10_000, 'a spare child');
  const spare = childrenNamed(server.pid, 'posix-spare')[0] as number;
  return Number(/^VmPTE:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${spare}/status`, 'utf8'))?.[1]);
}

describe('mmap_without_hints.so', () => {
  it('drops the address hint of a small anonymous mapping, and keeps a large one and MAP_FIXED_NOREPLACE', () => {
    expect(atHint(false)).toEqual({ page: true, large: true, fixed: true }); // the kernel takes free hints
    expect(atHint(true)).toEqual({ page: false, large: true, fixed: true });
  });

  it('is preloaded into the server, which keeps its pid and output, and gives each child far fewer page tables', async () => {
    const server = await startServer();
    const maps = readFileSync(`/proc/${server.pid}/maps`, 'utf8');
    expect(maps).toContain(LIBRARY); // the process the test started is the one with the library
    const client = await join(server); // its stdout said where it listens; it serves
    client.close();
    const kept = await startServer([], { POSIX_CHAT_KEEP_MMAP_HINTS: '1' });
    expect(readFileSync(`/proc/${kept.pid}/maps`, 'utf8')).not.toContain(LIBRARY);
    const [without, withHints] = [await sparePageTablesKiB(server), await sparePageTablesKiB(kept)];
    expect(without).toBeGreaterThan(0);
    expect(without * 2).toBeLessThan(withHints);
  });
});
