// fd.cc: file descriptors: pipe, read, write, close, dup2 and fcntl.
// See: man 2 pipe, read, write, close, dup2, fcntl; man 7 pipe (PIPE_BUF atomicity).
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "helpers.h"
#include "exports.h"

namespace posix {

// pipe(): [readFd, writeFd], both close-on-exec (fork() keeps them; exec does not).
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw ErrnoError(info.Env(), errno, "pipe");
  return FdPair(info.Env(), fds);
}

// read(fd, buffer, offset?, length?): bytes read (0 at end of file) or null on EAGAIN.
Napi::Value Read(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  Span span = BufferRangeArg(info, 1);
  ssize_t n;
  do n = read(fd, span.data, span.length); while (n == -1 && errno == EINTR);
  return CountOrNull(info.Env(), n, "read");
}

// write(fd, buffer, offset?, length?): bytes written or null on EAGAIN. A pipe
// write of at most PIPE_BUF bytes is atomic: it never interleaves with another's.
Napi::Value Write(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  Span span = BufferRangeArg(info, 1);
  ssize_t n;
  do n = write(fd, span.data, span.length); while (n == -1 && errno == EINTR);
  return CountOrNull(info.Env(), n, "write");
}

// close(fd). EINTR is not retried: on Linux the descriptor is gone either way.
Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  if (close(fd) != 0 && errno != EINTR) throw ErrnoError(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// dup2(oldFd, newFd): newFd becomes a copy of oldFd (closing what newFd was), without
// close-on-exec: the way to hand a descriptor to a program started by execve().
Napi::Value Dup2(const Napi::CallbackInfo& info) {
  int old_fd = FdArg(info, 0, "oldFd");
  int new_fd = FdArg(info, 1, "newFd");
  int result;
  do result = dup2(old_fd, new_fd); while (result == -1 && errno == EINTR);
  if (result == -1) throw ErrnoError(info.Env(), errno, "dup2");
  return Napi::Number::New(info.Env(), result);
}

// fcntl(fd, cmd, arg?): the integer commands this project uses, by name:
// F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG.
Napi::Value Fcntl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  std::string name = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  int cmd = name == "F_GETFL" ? F_GETFL
          : name == "F_SETFL" ? F_SETFL
          : name == "F_GETFD" ? F_GETFD
          : name == "F_SETFD" ? F_SETFD
          : name == "F_SETOWN" ? F_SETOWN
          : name == "F_GETOWN" ? F_GETOWN
          : name == "F_SETSIG" ? F_SETSIG
          : name == "F_GETSIG" ? F_GETSIG
          : -1;
  if (cmd == -1) ThrowTypeError(env, "unsupported fcntl command");
  int arg = info[2].IsUndefined() ? 0 : Int32Arg(info, 2, "arg");
  int result = fcntl(fd, cmd, arg);
  if (result == -1) throw ErrnoError(env, errno, "fcntl");
  return Napi::Number::New(env, result);
}

}  // namespace posix
