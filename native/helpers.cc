// helpers.cc: argument checks shared by every wrapper, and errno -> Error.
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <cmath>
#include <string>

namespace posix {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  const char* name = strerrorname_np(err);  // glibc >= 2.32
  std::string code = name != nullptr ? name : "E" + std::to_string(err);
  std::string message = code + ": " + strerror(err) + ", " + syscall;
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

void ThrowTypeError(Napi::Env env, const char* message) {
  throw Napi::TypeError::New(env, message);
}

namespace {

// How a bad value is shown in a message: a number as String(n) gives it (coercing a
// number runs no JavaScript), anything else by its type only (coercing an object
// would run its toString()). binding.ts's shown() says the same.
std::string Shown(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_number: return value.ToString().Utf8Value();
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_function: return "a function";
    case napi_object: return "an object";
    default: return "a bigint";
  }
}

[[noreturn]] void ThrowArgError(const Napi::Value& value, bool range, const char* code, const char* what,
                                const std::string& expected, const std::string& detail = "") {
  Napi::Env env = value.Env();
  std::string message = std::string("Expected \"") + what + "\" to be " + expected + ", got " + Shown(value);
  if (!detail.empty()) message += " (" + detail + ")";
  Napi::Error error = range ? Napi::Error(Napi::RangeError::New(env, message)) : Napi::Error(Napi::TypeError::New(env, message));
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

// The one number check, in two halves: Passes() is all a good value costs (no message
// is built); ThrowNumberError() says why a bad one failed: TypeError unless a finite
// number, whole when `whole`, not negative when `min` is not; else RangeError, with
// `detail` added.
bool Passes(const Napi::Value& value, double min, double max, bool whole, double* number) {
  if (!value.IsNumber()) return false;
  *number = value.As<Napi::Number>().DoubleValue();
  return std::isfinite(*number) && (!whole || std::trunc(*number) == *number) && *number >= min && *number <= max;
}

[[noreturn]] void ThrowNumberError(const Napi::Value& value, const char* what, double min, bool whole,
                                   const std::string& expected, const std::string& detail = "") {
  if (!value.IsNumber()) ThrowArgError(value, false, "ERR_INVALID_ARG_TYPE", what, expected);
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || (whole && std::trunc(number) != number) || (number < 0 && min >= 0)) {
    ThrowArgError(value, false, "ERR_INVALID_ARG_VALUE", what, expected);
  }
  ThrowArgError(value, true, "ERR_OUT_OF_RANGE", what, expected, detail);
}

std::string Whole(double number) {
  return std::to_string(static_cast<int64_t>(number));
}

std::string WholeFromTo(int64_t min, int64_t max) {
  return "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
}

}  // namespace

void ThrowArgTypeError(const Napi::Value& value, const char* what, const std::string& expected) {
  ThrowArgError(value, false, "ERR_INVALID_ARG_TYPE", what, expected);
}

int64_t WholeArg(const Napi::CallbackInfo& info, size_t index, const char* what, int64_t min, int64_t max,
                 const char* expected) {
  double number;
  double low = static_cast<double>(min), high = static_cast<double>(max);
  if (!Passes(info[index], low, high, true, &number)) {
    ThrowNumberError(info[index], what, low, true, expected != nullptr ? std::string(expected) : WholeFromTo(min, max));
  }
  return static_cast<int64_t>(number);
}

double SecondsArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  double seconds;
  if (!Passes(info[index], 0, MAX_SECONDS, false, &seconds)) {
    ThrowNumberError(info[index], what, 0, false, "a number of seconds from 0 to 2147483647");
  }
  return seconds;
}

int SignalArg(const Napi::Value& value, bool allow_zero) {
  Napi::Env env = value.Env();
  if (value.IsNumber()) {
    int min = allow_zero ? 0 : 1;
    double signo;
    if (!Passes(value, min, NSIG - 1, true, &signo)) ThrowNumberError(value, "signal", min, true, WholeFromTo(min, NSIG - 1));
    return static_cast<int>(signo);
  }
  if (value.IsString()) {
    std::string name = value.As<Napi::String>().Utf8Value();
    if (name.rfind("SIG", 0) != 0) ThrowTypeError(env, "signal name must start with SIG");
    for (int signo = 1; signo < NSIG; signo++) {
      const char* abbrev = sigabbrev_np(signo);  // 'USR1' for SIGUSR1
      if (abbrev != nullptr && name.compare(3, std::string::npos, abbrev) == 0) return signo;
    }
    ThrowTypeError(env, "unknown signal name");
  }
  ThrowTypeError(env, "signal must be a name such as 'SIGUSR1' or a number");
}

bool IsByteArray(const Napi::Value& value) {
  // A Uint8Array exactly (a Buffer is one), as binding.ts's `instanceof Uint8Array`.
  return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
}

Napi::Buffer<uint8_t> BufferArg(const Napi::Value& value, const char* what) {
  if (!IsByteArray(value)) ThrowArgTypeError(value, what, "a Buffer or Uint8Array");
  return value.As<Napi::Buffer<uint8_t>>();
}

Span BufferRangeArg(const Napi::CallbackInfo& info, size_t index) {
  Napi::Buffer<uint8_t> buffer = BufferArg(info[index], "buffer");
  double size = static_cast<double>(buffer.Length());
  const char* within = "a whole number within the buffer";
  double offset = 0;
  Napi::Value offset_arg = info[index + 1];
  if (!offset_arg.IsUndefined() && !Passes(offset_arg, 0, size, true, &offset)) {
    ThrowNumberError(offset_arg, "offset", 0, true, within, "offset out of range: the buffer holds " + Whole(size) + " bytes");
  }
  double length = size - offset;
  Napi::Value length_arg = info[index + 2];
  if (!length_arg.IsUndefined() && !Passes(length_arg, 0, size - offset, true, &length)) {
    ThrowNumberError(length_arg, "length", 0, true, within,
                     "length out of range: at most " + Whole(size - offset) + " bytes after offset " + Whole(offset));
  }
  return {buffer.Data() + static_cast<size_t>(offset), static_cast<size_t>(length)};
}

Napi::Value CountOrNull(Napi::Env env, ssize_t n, const char* syscall) {
  if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
  if (errno == EAGAIN || errno == EWOULDBLOCK) return env.Null();
  throw ErrnoError(env, errno, syscall);
}

Napi::Value FdPair(Napi::Env env, const int fds[2]) {
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, fds[0]);
  result.Set(1u, fds[1]);
  return result;
}

}  // namespace posix
