// addon.cc: the export table: one JavaScript function per system call, under
// the call's own name. src/posix.ts is its typed face.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "exports.h"

namespace posix {

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("WNOHANG", WNOHANG);
  c.Set("O_NONBLOCK", O_NONBLOCK);
  c.Set("O_ASYNC", O_ASYNC);
  c.Set("FD_CLOEXEC", FD_CLOEXEC);
  c.Set("MSG_DONTWAIT", static_cast<int>(MSG_DONTWAIT));
  c.Set("MSG_PEEK", static_cast<int>(MSG_PEEK));
  c.Set("PIPE_BUF", PIPE_BUF);
  return c;
}

}  // namespace posix

namespace {

using namespace posix;

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("fork", Napi::Function::New(env, Fork, "fork"));
  exports.Set("forkSibling", Napi::Function::New(env, ForkSibling, "forkSibling"));
  exports.Set("setProcessName", Napi::Function::New(env, SetProcessName, "setProcessName"));
  exports.Set("execve", Napi::Function::New(env, Execve, "execve"));
  exports.Set("kill", Napi::Function::New(env, Kill, "kill"));
  exports.Set("waitpid", Napi::Function::New(env, Waitpid, "waitpid"));
  exports.Set("_exit", Napi::Function::New(env, Exit, "_exit"));
  exports.Set("getpid", Napi::Function::New(env, Getpid, "getpid"));
  exports.Set("getppid", Napi::Function::New(env, Getppid, "getppid"));
  exports.Set("monotonicMicros", Napi::Function::New(env, MonotonicMicros, "monotonicMicros"));
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal, "setParentDeathSignal"));
  exports.Set("setDumpable", Napi::Function::New(env, SetDumpable, "setDumpable"));
  exports.Set("setSchedulerSlice", Napi::Function::New(env, SetSchedulerSlice, "setSchedulerSlice"));
  exports.Set("getpwnam", Napi::Function::New(env, Getpwnam, "getpwnam"));
  exports.Set("getrlimit", Napi::Function::New(env, Getrlimit, "getrlimit"));
  exports.Set("setrlimit", Napi::Function::New(env, Setrlimit, "setrlimit"));

  exports.Set("sigprocmask", Napi::Function::New(env, Sigprocmask, "sigprocmask"));
  exports.Set("sigaction", Napi::Function::New(env, Sigaction, "sigaction"));
  exports.Set("sigtimedwait", Napi::Function::New(env, Sigtimedwait, "sigtimedwait"));

  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("read", Napi::Function::New(env, Read, "read"));
  exports.Set("write", Napi::Function::New(env, Write, "write"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("dup2", Napi::Function::New(env, Dup2, "dup2"));
  exports.Set("fcntl", Napi::Function::New(env, Fcntl, "fcntl"));

  exports.Set("socket", Napi::Function::New(env, Socket, "socket"));
  exports.Set("setsockopt", Napi::Function::New(env, Setsockopt, "setsockopt"));
  exports.Set("bind", Napi::Function::New(env, Bind, "bind"));
  exports.Set("listen", Napi::Function::New(env, Listen, "listen"));
  exports.Set("getsockname", Napi::Function::New(env, Getsockname, "getsockname"));
  exports.Set("accept", Napi::Function::New(env, Accept, "accept"));
  exports.Set("recv", Napi::Function::New(env, Recv, "recv"));
  exports.Set("send", Napi::Function::New(env, Send, "send"));
  exports.Set("sendv", Napi::Function::New(env, Sendv, "sendv"));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));

  exports.Set("socketpair", Napi::Function::New(env, Socketpair, "socketpair"));
  exports.Set("sendFd", Napi::Function::New(env, SendFd, "sendFd"));
  exports.Set("recvFd", Napi::Function::New(env, RecvFd, "recvFd"));

  exports.Set("constants", Constants(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(posix, Init)
