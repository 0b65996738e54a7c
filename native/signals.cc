// signals.cc: signal masks, dispositions and synchronous waiting.
// See: man 2 sigprocmask, sigaction, sigtimedwait, tgkill; man 7 signal.
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "exports.h"

namespace posix {
namespace {

sigset_t SignalSetArg(const Napi::Value& value) {
  if (!value.IsArray()) ThrowTypeError(value.Env(), "signals must be an array");
  Napi::Array list = value.As<Napi::Array>();
  sigset_t set;
  sigemptyset(&set);
  for (uint32_t i = 0; i < list.Length(); i++) sigaddset(&set, SignalArg(list.Get(i)));
  return set;
}

Napi::Array SignalSetValue(Napi::Env env, const sigset_t& set) {
  Napi::Array list = Napi::Array::New(env);
  for (int signo = 1; signo < NSIG; signo++) {
    if (sigismember(&set, signo) == 1) list.Set(list.Length(), signo);
  }
  return list;
}

// The thread that asked for forwarding: the one that blocks the signals and
// collects them with sigtimedwait().
pid_t main_thread_id = 0;

// Node's other threads do not block SIGTERM and friends; a process-directed
// signal may land on one of them. This handler hands it on to the main thread,
// where it stays pending (blocked) until sigtimedwait() collects it, so no
// thread can turn it into a hard kill or swallow it (FORK-IN-NODE.md fact 6).
void ForwardToMainThread(int signo) {
  int saved_errno = errno;
  if (static_cast<pid_t>(syscall(SYS_gettid)) != main_thread_id) {
    syscall(SYS_tgkill, getpid(), main_thread_id, signo);
  }
  errno = saved_errno;
}

double MonotonicSeconds() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec + now.tv_nsec / 1e9;
}

}  // namespace

// sigprocmask(how, signals): changes the calling thread's mask ('block',
// 'unblock' or 'setmask') and returns the previous mask as signal numbers.
Napi::Value Sigprocmask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string how = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  int op = how == "block" ? SIG_BLOCK : how == "unblock" ? SIG_UNBLOCK : how == "setmask" ? SIG_SETMASK : -1;
  if (op == -1) ThrowTypeError(env, "how must be 'block', 'unblock' or 'setmask'");
  sigset_t set = SignalSetArg(info[1]), old;
  // pthread_sigmask: in a threaded process sigprocmask's effect is unspecified.
  int err = pthread_sigmask(op, &set, &old);
  if (err != 0) throw ErrnoError(env, err, "sigprocmask");
  return SignalSetValue(env, old);
}

// sigaction(signal, action): 'default', 'ignore', or 'forward' (see above).
Napi::Value Sigaction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int signo = SignalArg(info[0]);
  std::string action = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  struct sigaction sa = {};
  sigfillset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (action == "default") {
    sa.sa_handler = SIG_DFL;
  } else if (action == "ignore") {
    sa.sa_handler = SIG_IGN;
  } else if (action == "forward") {
    main_thread_id = static_cast<pid_t>(syscall(SYS_gettid));
    sa.sa_handler = ForwardToMainThread;
  } else {
    ThrowTypeError(env, "action must be 'default', 'ignore' or 'forward'");
  }
  if (sigaction(signo, &sa, nullptr) != 0) throw ErrnoError(env, errno, "sigaction");
  return env.Undefined();
}

// sigtimedwait(signals, timeoutSeconds): the signals must be blocked in the
// calling thread. Returns {signo, pid, uid, code, fd} or null on timeout.
// EINTR (a handler ran for some other signal) is retried with the time left.
Napi::Value Sigtimedwait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sigset_t set = SignalSetArg(info[0]);
  double timeout = SecondsArg(info, 1, "timeoutSeconds");
  double deadline = MonotonicSeconds() + timeout;
  siginfo_t si;
  int signo;
  for (;;) {
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(timeout);
    ts.tv_nsec = static_cast<long>((timeout - ts.tv_sec) * 1e9);
    signo = sigtimedwait(&set, &si, &ts);
    if (signo != -1 || errno != EINTR) break;
    timeout = deadline - MonotonicSeconds();
    if (timeout < 0) timeout = 0;
  }
  if (signo == -1 && errno == EAGAIN) return env.Null();
  if (signo == -1) throw ErrnoError(env, errno, "sigtimedwait");
  Napi::Object result = Napi::Object::New(env);
  result.Set("signo", signo);
  result.Set("pid", si.si_pid);
  result.Set("uid", si.si_uid);
  result.Set("code", si.si_code);
  // si_fd is meaningful only for I/O signals (F_SETSIG, si_code POLL_*); SIGCHLD's
  // codes (CLD_*) share those numbers.
  bool io = signo != SIGCHLD && si.si_code > 0 && si.si_code <= POLL_HUP;
  result.Set("fd", io ? Napi::Value(Napi::Number::New(env, si.si_fd)) : env.Null());
  return result;
}

}  // namespace posix
