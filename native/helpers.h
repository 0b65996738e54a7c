// helpers.h: what every wrapper shares: argument checks, and the one place where
// a failed call's errno becomes an Error shaped like Node's own system errors
// (code, errno, syscall, message). See: man 3 errno.
#pragma once
#include <napi.h>

#include <climits>
#include <cstdint>
#include <string>

namespace posix {

// Builds `ESRCH: No such process, kill` with code 'ESRCH', errno -3 (negative,
// as in Node's fs and net errors) and syscall 'kill'.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// Throws a TypeError for a bad argument; the TypeScript layer validates first,
// so this only fires when the raw binding is called directly.
[[noreturn]] void ThrowTypeError(Napi::Env env, const char* message);

// Argument checks. Every number is checked here before it is cast, so a NaN, 1.5 or
// 2**32 + 1 never reaches a system call as whatever the cast makes of it (2**32 + 1 as
// an int is 1: close(2**32 + 1) would close stdout). They throw what src/posix/binding.ts
// throws for the same value, with the same message, e.g.
//   Expected "fd" to be a whole number from 0 to 2147483647, got 4294967297
// a TypeError (code ERR_INVALID_ARG_TYPE: not a number or Buffer at all;
// ERR_INVALID_ARG_VALUE: NaN, infinite, a fraction where a whole number is asked, or
// negative where only non-negative values mean anything) or a RangeError (code
// ERR_OUT_OF_RANGE: of the right kind, but beyond its bounds).

// Throws the TypeError (code ERR_INVALID_ARG_TYPE) for `value`, which is not `expected`.
[[noreturn]] void ThrowArgTypeError(const Napi::Value& value, const char* what, const std::string& expected);

// A whole number in [min, max] (both within +-2**53). `expected` describes it in the
// message; by default "a whole number from MIN to MAX". A good value builds no message.
int64_t WholeArg(const Napi::CallbackInfo& info, size_t index, const char* what, int64_t min, int64_t max,
                 const char* expected = nullptr);

// A descriptor: 0 to 2**31 - 1.
inline int FdArg(const Napi::CallbackInfo& info, size_t index, const char* what = "fd") {
  return static_cast<int>(WholeArg(info, index, what, 0, INT_MAX));
}

// A C int that may be negative (a pid, flags, an exit code): -2**31 to 2**31 - 1.
inline int Int32Arg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  return static_cast<int>(WholeArg(info, index, what, INT_MIN, INT_MAX));
}

// Seconds, fractions allowed: finite, from 0 to MAX_SECONDS.
constexpr double MAX_SECONDS = 2147483647;
double SecondsArg(const Napi::CallbackInfo& info, size_t index, const char* what);

// Signal number from a number or a name such as 'SIGUSR1'; throws on anything else.
// 0 (no signal: kill() only checks that the process exists) when allow_zero.
int SignalArg(const Napi::Value& value, bool allow_zero = false);

// Whether `value` is a Buffer or other Uint8Array.
bool IsByteArray(const Napi::Value& value);

// A Buffer or other Uint8Array, else a TypeError naming `what`.
Napi::Buffer<uint8_t> BufferArg(const Napi::Value& value, const char* what);

// The byte range [offset, offset + length) of the Buffer at info[index], with
// optional offset and length (undefined: 0 and the rest) in the two arguments
// after it, both whole numbers within the buffer.
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
