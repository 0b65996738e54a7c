// exports.h: every function the addon exports, one per system call; addon.cc
// registers them under these names.
#pragma once
#include <napi.h>

namespace posix {

// process.cc: processes
Napi::Value Fork(const Napi::CallbackInfo& info);
Napi::Value ForkSibling(const Napi::CallbackInfo& info);
Napi::Value SetProcessName(const Napi::CallbackInfo& info);
Napi::Value Execve(const Napi::CallbackInfo& info);
Napi::Value Kill(const Napi::CallbackInfo& info);
Napi::Value Waitpid(const Napi::CallbackInfo& info);
Napi::Value Exit(const Napi::CallbackInfo& info);
Napi::Value Getpid(const Napi::CallbackInfo& info);
Napi::Value Getppid(const Napi::CallbackInfo& info);
Napi::Value MonotonicMicros(const Napi::CallbackInfo& info);
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info);
Napi::Value SetDumpable(const Napi::CallbackInfo& info);
Napi::Value SetSchedulerSlice(const Napi::CallbackInfo& info);
Napi::Value Getpwnam(const Napi::CallbackInfo& info);
Napi::Value Getrlimit(const Napi::CallbackInfo& info);
Napi::Value Setrlimit(const Napi::CallbackInfo& info);

// signals.cc: signal masks, dispositions and synchronous waiting
Napi::Value Sigprocmask(const Napi::CallbackInfo& info);
Napi::Value Sigaction(const Napi::CallbackInfo& info);
Napi::Value Sigtimedwait(const Napi::CallbackInfo& info);

// fd.cc: descriptors and pipes
Napi::Value Pipe(const Napi::CallbackInfo& info);
Napi::Value Read(const Napi::CallbackInfo& info);
Napi::Value Write(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);
Napi::Value Dup2(const Napi::CallbackInfo& info);
Napi::Value Fcntl(const Napi::CallbackInfo& info);

// socket.cc: TCP sockets
Napi::Value Socket(const Napi::CallbackInfo& info);
Napi::Value Setsockopt(const Napi::CallbackInfo& info);
Napi::Value Bind(const Napi::CallbackInfo& info);
Napi::Value Listen(const Napi::CallbackInfo& info);
Napi::Value Getsockname(const Napi::CallbackInfo& info);
Napi::Value Accept(const Napi::CallbackInfo& info);
Napi::Value Recv(const Napi::CallbackInfo& info);
Napi::Value Send(const Napi::CallbackInfo& info);
Napi::Value Sendv(const Napi::CallbackInfo& info);
Napi::Value Shutdown(const Napi::CallbackInfo& info);

// unix.cc: local sockets that pass descriptors
Napi::Value Socketpair(const Napi::CallbackInfo& info);
Napi::Value SendFd(const Napi::CallbackInfo& info);
Napi::Value RecvFd(const Napi::CallbackInfo& info);

// addon.cc: numbers the TypeScript layer needs (WNOHANG, O_NONBLOCK, ...)
Napi::Object Constants(Napi::Env env);

}  // namespace posix
