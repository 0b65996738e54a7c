// process.cc: processes: fork, kill, waitpid, _exit, getpid, getppid and the
// parent-death signal. See: man 2 fork, madvise, kill, waitpid, prctl.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "exports.h"

namespace posix {
namespace {

// V8 maps its heap with MADV_DONTFORK, so a plain fork() child has no heap and
// crashes at its first allocation. Undo that flag on every mapping right before
// fork(), in this same native call: any JavaScript in between could map fresh
// pages with the flag set again (FORK-IN-NODE.md facts 1-2).
void MarkEveryMappingDoFork() {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return;  // fork() still works; the child then fails loudly
  char line[4096];
  while (fgets(line, sizeof line, maps) != nullptr) {
    if (strstr(line, "[vvar]") || strstr(line, "[vdso]") || strstr(line, "[vsyscall]")) continue;
    unsigned long start = 0, end = 0;
    if (sscanf(line, "%lx-%lx", &start, &end) != 2 || end <= start) continue;
    madvise(reinterpret_cast<void*>(start), end - start, MADV_DOFORK);  // best effort per mapping
  }
  fclose(maps);
}

// In the child: every signal the parent handles or waits for goes back to its
// default action, and the mask is emptied, so the child never runs a parent's
// handler (which would tgkill() a thread that is not there) and never sits on a
// blocked SIGTERM. libuv's process.c resets its children the same way.
void ResetSignalsInChild(const sigset_t& parent_mask) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int signo = 1; signo < NSIG; signo++) {
    if (signo == SIGKILL || signo == SIGSTOP) continue;
    struct sigaction old;
    if (sigaction(signo, nullptr, &old) != 0) continue;  // glibc's reserved signals
    bool caught = old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
    if (caught || sigismember(&parent_mask, signo)) sigaction(signo, &dfl, nullptr);
  }
  sigset_t empty;
  sigemptyset(&empty);
  pthread_sigmask(SIG_SETMASK, &empty, nullptr);
}

}  // namespace

Napi::Value Fork(const Napi::CallbackInfo& info) {
  sigset_t all, parent_mask;
  sigfillset(&all);
  // Block everything across fork() so no handler runs in the child before the reset.
  pthread_sigmask(SIG_SETMASK, &all, &parent_mask);
  MarkEveryMappingDoFork();
  pid_t pid = fork();
  if (pid == 0) {
    ResetSignalsInChild(parent_mask);
    return Napi::Number::New(info.Env(), 0);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &parent_mask, nullptr);
  if (pid == -1) throw ErrnoError(info.Env(), err, "fork");
  return Napi::Number::New(info.Env(), pid);
}

Napi::Value Kill(const Napi::CallbackInfo& info) {
  int pid = IntArg(info, 0, "pid");
  int signo = info.Length() > 1 && !info[1].IsUndefined() ? SignalArg(info[1], true) : SIGTERM;
  if (kill(pid, signo) != 0) throw ErrnoError(info.Env(), errno, "kill");
  return info.Env().Undefined();
}

// Returns null when WNOHANG finds no exited child, else {pid, code, signal}:
// code is the exit status (or null), signal the terminating signal (or null).
Napi::Value Waitpid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = IntArg(info, 0, "pid");
  int flags = info.Length() > 1 ? IntArg(info, 1, "flags") : 0;
  int status = 0;
  pid_t got;
  do got = waitpid(pid, &status, flags); while (got == -1 && errno == EINTR);
  if (got == -1) throw ErrnoError(env, errno, "waitpid");
  if (got == 0) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", got);
  result.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  result.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  return result;
}

Napi::Value Exit(const Napi::CallbackInfo& info) {
  _exit(info.Length() > 0 ? IntArg(info, 0, "code") : 0);
}

Napi::Value Getpid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), getpid());
}

Napi::Value Getppid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), getppid());
}

// prctl(PR_SET_PDEATHSIG): the kernel sends `signal` to this process when the
// thread that forked it exits, even if the parent dies by SIGKILL.
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  int signo = SignalArg(info[0]);
  if (prctl(PR_SET_PDEATHSIG, signo, 0, 0, 0) != 0) throw ErrnoError(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

}  // namespace posix
