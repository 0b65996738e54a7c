// mmap-without-hints.c: a library the server preloads (LD_PRELOAD; bin/posix-chat.cjs
// starts node again with it) so that V8's heap lands in one place instead of all over
// the address space. Not part of the addon: it has to be in the process before V8 makes
// its first mapping.
//
// Why: V8 asks mmap() for each chunk of its heap at a random address (a "hint", for
// address-space randomisation), and the kernel takes the hint. Each chunk then sits in
// its own 2 MiB, 1 GiB and often 512 GiB region, and every such region costs page-table
// pages. fork() copies a process's page tables; the zygote's children each had about
// 1.4 MiB of them (VmPTE in /proc/PID/status), more than the 0.4 MiB of memory a child
// adds, and the zygote spent much of each fork allocating and filling them. Without the
// hint the kernel puts each new mapping next to the last (still at a random base per
// process), and a child's page tables are a fifth of that. docs/bench.md, "The zygote's
// page tables", has the figures.
//
// What changes: only an anonymous mapping that asked for an address as a hint (no
// MAP_FIXED), smaller than KEEP_HINT_FROM_BYTES. A larger reservation keeps its hint: V8
// places its code range near node's own code on purpose (calls between them are then
// short). Everything else goes to the kernel as it came.
// See: man 2 mmap; man 8 ld.so (LD_PRELOAD).
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define KEEP_HINT_FROM_BYTES ((size_t)64 << 20)

static void *map_without_hint(void *addr, size_t length, int prot, int flags, int fd, off_t offset) {
  int fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
  if (addr != NULL && !fixed && (flags & MAP_ANONYMOUS) && length < KEEP_HINT_FROM_BYTES) addr = NULL;
  // What glibc's mmap() is: the system call, its error in errno.
  return (void *)syscall(SYS_mmap, addr, length, prot, flags, fd, offset);
}

// The symbols the process's calls bind to, under both of glibc's names for the one call
// (node's build maps mmap to mmap64; V8 may call either). Named by asm labels, so that
// <sys/mman.h>'s own declarations of them do not clash with these definitions.
void *preloaded_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) __asm__("mmap");
void *preloaded_mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset) __asm__("mmap64");

void *preloaded_mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return map_without_hint(addr, length, prot, flags, fd, offset);
}

void *preloaded_mmap64(void *addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return map_without_hint(addr, length, prot, flags, fd, offset);
}
