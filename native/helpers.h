// helpers.h: what every wrapper shares: argument checks, and the one place where
// a failed call's errno becomes an Error shaped like Node's own system errors
// (code, errno, syscall, message). See: man 3 errno.
#pragma once
#include <napi.h>

namespace posix {

// Builds `ESRCH: No such process, kill` with code 'ESRCH', errno -3 (negative,
// as in Node's fs and net errors) and syscall 'kill'.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// Throws a TypeError for a bad argument; the TypeScript layer validates first,
// so this only fires when the raw binding is called directly.
[[noreturn]] void ThrowTypeError(Napi::Env env, const char* message);

// Signal number from a number or a name such as 'SIGUSR1'; throws on anything else.
// 0 (no signal: kill() only checks that the process exists) when allow_zero.
int SignalArg(const Napi::Value& value, bool allow_zero = false);

// An integer argument (file descriptor, pid, flags).
int IntArg(const Napi::CallbackInfo& info, size_t index, const char* what);

// The byte range [offset, offset + length) of the Buffer at info[index], with
// optional offset and length in the two arguments after it.
struct Span {
  uint8_t* data;
  size_t length;
};
Span BufferRangeArg(const Napi::CallbackInfo& info, size_t index);

// A read/write/send result: bytes moved, or null when a non-blocking
// descriptor would block (EAGAIN); any other failure throws.
Napi::Value CountOrNull(Napi::Env env, ssize_t n, const char* syscall);

// [fds[0], fds[1]]: what pipe() and socketpair() return.
Napi::Value FdPair(Napi::Env env, const int fds[2]);

}  // namespace posix
