// helpers.cc: argument checks shared by every wrapper, and errno -> Error.
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

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

int SignalArg(const Napi::Value& value, bool allow_zero) {
  Napi::Env env = value.Env();
  if (value.IsNumber()) {
    int signo = value.As<Napi::Number>().Int32Value();
    if (signo < (allow_zero ? 0 : 1) || signo >= NSIG) ThrowTypeError(env, "signal number out of range");
    return signo;
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

int IntArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (index >= info.Length() || !info[index].IsNumber()) {
    std::string message = std::string(what) + " must be a number";
    throw Napi::TypeError::New(info.Env(), message);
  }
  return info[index].As<Napi::Number>().Int32Value();
}

Span BufferRangeArg(const Napi::CallbackInfo& info, size_t index) {
  Napi::Env env = info.Env();
  if (!info[index].IsBuffer()) ThrowTypeError(env, "buffer must be a Buffer or Uint8Array");
  Napi::Buffer<uint8_t> buffer = info[index].As<Napi::Buffer<uint8_t>>();
  double size = static_cast<double>(buffer.Length());
  bool has_offset = info.Length() > index + 1 && info[index + 1].IsNumber();
  bool has_length = info.Length() > index + 2 && info[index + 2].IsNumber();
  double offset = has_offset ? info[index + 1].As<Napi::Number>().DoubleValue() : 0;
  if (offset < 0 || offset > size) ThrowTypeError(env, "offset out of range");
  double length = has_length ? info[index + 2].As<Napi::Number>().DoubleValue() : size - offset;
  if (length < 0 || offset + length > size) ThrowTypeError(env, "length out of range");
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
