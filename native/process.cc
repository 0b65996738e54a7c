// process.cc: processes: fork, execve, kill, waitpid, _exit, getpid, getppid,
// the parent-death signal, the dumpable flag, resource limits, user lookup and a
// process's clock.
// See: man 2 fork, execve, madvise, kill, waitpid, prctl, getrlimit, clock_gettime;
// man 3 getpwnam.
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "helpers.h"
#include "exports.h"

namespace posix {
namespace {

// V8 maps its heap with MADV_DONTFORK, so a plain fork() child has no heap and
// crashes at its first allocation. Undo that flag on every mapping right before
// fork(), in this same native call: any JavaScript in between could map fresh
// pages with the flag set again (FORK-IN-NODE.md facts 1-2).
// The pass reads /proc/self/maps, which needs a free descriptor: a server at its
// descriptor limit (RLIMIT_NOFILE) would skip it, and its child would die on the first
// mapping fork() left out. So a process that forks holds one descriptor back (/dev/null),
// and gives it up for the moment it opens the maps. Children close the one they inherit.
int reserveFd = -1;

void HoldReserve() {
  if (reserveFd == -1) reserveFd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

// Opens the maps, with the reserved descriptor if no other is free.
FILE* OpenMaps() {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr && (errno == EMFILE || errno == ENFILE) && reserveFd != -1) {
    close(reserveFd);
    reserveFd = -1;
    maps = fopen("/proc/self/maps", "re");
  }
  return maps;
}

// The mappings madvise() refused MADV_DOFORK (EINVAL) in the last full pass: the kernel's
// [vvar] pages, which are VM_IO, and any other VM_IO mapping there was then. Every later
// fork marks the stretches between them, and each of them again in case something else
// is mapped there now.
struct Span {
  unsigned long start;
  unsigned long end;
};
std::vector<Span> refused;
bool learned = false;

// One pass over /proc/self/maps, a madvise() per mapping, learning the refused ones.
// False (errno set) when the maps could not be read: a fork now would make a child that crashes.
bool MarkEachMapping() {
  FILE* maps = OpenMaps();
  if (maps == nullptr) {
    int err = errno;
    HoldReserve();
    errno = err;
    return false;
  }
  refused.clear();
  char line[4096];
  while (fgets(line, sizeof line, maps) != nullptr) {
    if (strstr(line, "[vsyscall]")) continue;  // above user space
    unsigned long start = 0, end = 0;
    if (sscanf(line, "%lx-%lx", &start, &end) != 2 || end <= start) continue;
    if (madvise(reinterpret_cast<void*>(start), end - start, MADV_DOFORK) != 0 && errno == EINVAL) {
      refused.push_back({start, end});
    }
  }
  fclose(maps);
  learned = true;
  HoldReserve();
  return true;
}

// madvise() over a stretch of the address space applies to every mapping in it and skips
// the holes between them, answering ENOMEM at the end for those (man 2 madvise). `refusal`
// is the other answer that is expected: EINVAL, for a stretch that is a refused mapping.
bool MarkStretch(unsigned long start, unsigned long end, int refusal) {
  if (end <= start) return true;
  return madvise(reinterpret_cast<void*>(start), end - start, MADV_DOFORK) == 0 || errno == ENOMEM || errno == refusal;
}

// Once the refused mappings are known, a few madvise() calls over the stretches between
// them, up to the highest page, do what a pass over every mapping does (about 220 calls in
// a server). Any other answer (a new refused mapping, say) falls back to the full pass,
// which learns again.
bool MarkEveryMappingDoFork() {
  if (learned) {
    HoldReserve();  // for the fallback's maps, in a process that has just been forked
    unsigned long from = 0;
    bool marked = true;
    for (const Span& span : refused) {
      marked = marked && MarkStretch(from, span.start, 0) && MarkStretch(span.start, span.end, EINVAL);
      from = span.end;
    }
    unsigned long top = ~(static_cast<unsigned long>(sysconf(_SC_PAGESIZE)) - 1);
    if (marked && MarkStretch(from, top, 0)) return true;
  }
  return MarkEachMapping();
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

// The new process runs `child` here, inside this call, and leaves when it does: it never
// returns into the JavaScript frames below, which may be code V8 optimised for the
// caller's side of the fork (docs/fork-in-node.md, fact 14).
[[noreturn]] void RunChild(const Napi::CallbackInfo& info) {
  std::vector<napi_value> args;
  for (size_t i = 1; i < info.Length(); i++) args.push_back(info[i]);
  try {
    info[0].As<Napi::Function>().Call(args);
    const char message[] = "posix: the child's function returned instead of calling _exit()\n";
    (void)!write(2, message, sizeof message - 1);
  } catch (const Napi::Error& error) {
    std::string message = "posix: the child's function threw: " + error.Message() + "\n";
    (void)!write(2, message.data(), message.size());
  }
  _exit(70);  // EX_SOFTWARE
}

}  // namespace

// fork() or, with `sibling`, clone(CLONE_PARENT): the same copy of this process,
// but made a child of this process's parent (its exit and SIGCHLD go there).
// Given a function (and its arguments after it), the new process runs it instead of returning.
Napi::Value ForkWith(const Napi::CallbackInfo& info, bool sibling) {
  bool hasChild = info.Length() > 0 && !info[0].IsUndefined();
  if (hasChild && !info[0].IsFunction()) ThrowTypeError(info.Env(), "child must be a function");
  sigset_t all, parent_mask;
  sigfillset(&all);
  // Block everything across fork() so no handler runs in the child before the reset.
  pthread_sigmask(SIG_SETMASK, &all, &parent_mask);
  if (!MarkEveryMappingDoFork()) {
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &parent_mask, nullptr);
    throw ErrnoError(info.Env(), err, "open /proc/self/maps before fork");
  }
  // Without a new stack, raw clone() returns in both processes like fork(); glibc's
  // clone() wrapper would want a stack and a function instead.
  pid_t pid = sibling ? static_cast<pid_t>(syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, 0)) : fork();
  if (pid == 0) {
    if (reserveFd != -1) close(reserveFd);  // a child that forks (the zygote) takes its own at its first fork
    reserveFd = -1;
    ResetSignalsInChild(parent_mask);
    if (hasChild) RunChild(info);
    return Napi::Number::New(info.Env(), 0);
  }
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &parent_mask, nullptr);
  if (pid == -1) throw ErrnoError(info.Env(), err, sibling ? "clone" : "fork");
  return Napi::Number::New(info.Env(), pid);
}

Napi::Value Fork(const Napi::CallbackInfo& info) {
  return ForkWith(info, false);
}

Napi::Value ForkSibling(const Napi::CallbackInfo& info) {
  return ForkWith(info, true);
}

// prctl(PR_SET_NAME): the name ps, top and /proc/PID/comm show (15 bytes at most).
Napi::Value SetProcessName(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) ThrowTypeError(info.Env(), "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value().substr(0, 15);
  if (prctl(PR_SET_NAME, name.c_str(), 0, 0, 0) != 0) throw ErrnoError(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

namespace {

std::vector<std::string> StringListArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (index >= info.Length() || !info[index].IsArray()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an array of strings");
  }
  Napi::Array array = info[index].As<Napi::Array>();
  std::vector<std::string> list;
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an array of strings");
    list.push_back(item.As<Napi::String>().Utf8Value());
  }
  return list;
}

std::vector<char*> NullTerminated(std::vector<std::string>& list) {
  std::vector<char*> pointers;
  for (std::string& item : list) pointers.push_back(item.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

// execve(path, argv, envp): replaces this process's program. Returns only on
// failure (ENOENT, EACCES, ...); descriptors without close-on-exec stay open.
Napi::Value Execve(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) ThrowTypeError(info.Env(), "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::vector<std::string> args = StringListArg(info, 1, "argv");
  std::vector<std::string> env = StringListArg(info, 2, "envp");
  std::vector<char*> argv = NullTerminated(args);
  std::vector<char*> envp = NullTerminated(env);
  execve(path.c_str(), argv.data(), envp.data());
  throw ErrnoError(info.Env(), errno, "execve");
}

Napi::Value Kill(const Napi::CallbackInfo& info) {
  int pid = Int32Arg(info, 0, "pid");
  int signo = info.Length() > 1 && !info[1].IsUndefined() ? SignalArg(info[1], true) : SIGTERM;
  if (kill(pid, signo) != 0) throw ErrnoError(info.Env(), errno, "kill");
  return info.Env().Undefined();
}

// Returns null when WNOHANG finds no exited child, else {pid, code, signal}:
// code is the exit status (or null), signal the terminating signal (or null).
Napi::Value Waitpid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = Int32Arg(info, 0, "pid");
  int flags = info[1].IsUndefined() ? 0 : Int32Arg(info, 1, "flags");
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
  _exit(info[0].IsUndefined() ? 0 : Int32Arg(info, 0, "code"));
}

Napi::Value Getpid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), getpid());
}

Napi::Value Getppid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), getppid());
}

// clock_gettime(CLOCK_MONOTONIC) in microseconds, modulo 2^30 (it wraps every ~18
// minutes): a number that small is a V8 small integer, so the call allocates nothing
// on the heap, which a forked child's read loop must not (Date.now() and
// performance.now() return heap numbers). For intervals shorter than the wrap only.
Napi::Value MonotonicMicros(const Napi::CallbackInfo& info) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t micros = static_cast<uint64_t>(now.tv_sec) * 1000000u + static_cast<uint64_t>(now.tv_nsec) / 1000u;
  return Napi::Number::New(info.Env(), static_cast<int32_t>(micros & ((1u << 30) - 1)));
}

// prctl(PR_SET_DUMPABLE): changing credentials from root clears the flag, which
// makes /proc/PID of this process and of every child it forks owned by root.
Napi::Value SetDumpable(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) ThrowTypeError(info.Env(), "dumpable must be a boolean");
  int flag = info[0].As<Napi::Boolean>().Value() ? 1 : 0;
  if (prctl(PR_SET_DUMPABLE, flag, 0, 0, 0) != 0) throw ErrnoError(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

// sched_setattr(2) on the calling thread: a slice of `ns` nanoseconds for the fair
// scheduler, which Linux 6.12 and later take (EEVDF: a shorter slice is an earlier
// deadline, so a task that wakes runs sooner); older kernels ignore it. Only a thread
// under SCHED_OTHER or SCHED_BATCH is changed, and its policy and nice value are kept:
// one an administrator put under a real-time or idle policy is left alone. Returns the
// slice the kernel reports afterwards (sched_getattr), 0 when it keeps none. glibc 2.36
// has no wrapper, hence the syscalls and the struct, as in linux/sched/types.h.
namespace {
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};

void GetSchedAttr(Napi::Env env, SchedAttr* attr) {
  *attr = {};
  if (syscall(SYS_sched_getattr, 0, attr, sizeof *attr, 0) != 0) throw ErrnoError(env, errno, "sched_getattr");
}
}  // namespace

Napi::Value SetSchedulerSlice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) ThrowTypeError(env, "slice must be a number of nanoseconds");
  double ns = info[0].As<Napi::Number>().DoubleValue();
  if (!(ns >= 0 && ns <= 1e9)) ThrowTypeError(env, "slice must be between 0 and 1e9 nanoseconds");
  SchedAttr attr;
  GetSchedAttr(env, &attr);
  if (attr.sched_policy == SCHED_OTHER || attr.sched_policy == SCHED_BATCH) {
    attr.size = sizeof attr;
    attr.sched_flags = 0;
    attr.sched_runtime = static_cast<uint64_t>(ns);
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) throw ErrnoError(env, errno, "sched_setattr");
    GetSchedAttr(env, &attr);
  }
  return Napi::Number::New(env, static_cast<double>(attr.sched_runtime));
}

// getpwnam_r(3): a user's ids and home from the user database (files, LDAP...),
// or null when there is no such user.
Napi::Value Getpwnam(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) ThrowTypeError(info.Env(), "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd entry;
  struct passwd* found = nullptr;
  int err;
  while ((err = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < (size_t{1} << 20)) {
    buffer.resize(buffer.size() * 2);
  }
  if (err != 0) throw ErrnoError(info.Env(), err, "getpwnam_r");
  if (found == nullptr) return info.Env().Null();
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("name", Napi::String::New(info.Env(), entry.pw_name));
  result.Set("uid", Napi::Number::New(info.Env(), entry.pw_uid));
  result.Set("gid", Napi::Number::New(info.Env(), entry.pw_gid));
  result.Set("dir", Napi::String::New(info.Env(), entry.pw_dir));
  return result;
}

// prctl(PR_SET_PDEATHSIG): the kernel sends `signal` to this process when the
// thread that forked it exits, even if the parent dies by SIGKILL.
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  int signo = SignalArg(info[0]);
  if (prctl(PR_SET_PDEATHSIG, signo, 0, 0, 0) != 0) throw ErrnoError(info.Env(), errno, "prctl");
  return info.Env().Undefined();
}

namespace {

int ResourceArg(const Napi::CallbackInfo& info) {
  std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (name == "RLIMIT_NOFILE") return RLIMIT_NOFILE;
  if (name == "RLIMIT_NPROC") return RLIMIT_NPROC;
  ThrowTypeError(info.Env(), "resource must be 'RLIMIT_NOFILE' or 'RLIMIT_NPROC'");
}

// RLIM_INFINITY is shown as -1: a double holds every other rlim_t we meet.
Napi::Value LimitValue(Napi::Env env, rlim_t value) {
  return Napi::Number::New(env, value == RLIM_INFINITY ? -1.0 : static_cast<double>(value));
}

// -1 (unlimited) or a whole number up to 2**53 - 1: every value a double holds exactly.
rlim_t LimitArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  int64_t value = WholeArg(info, index, what, -1, (int64_t{1} << 53) - 1, "-1 (unlimited) or a whole number from 0 to 9007199254740991");
  return value == -1 ? RLIM_INFINITY : static_cast<rlim_t>(value);
}

}  // namespace

// getrlimit(resource): {soft, hard}; -1 means unlimited.
Napi::Value Getrlimit(const Napi::CallbackInfo& info) {
  struct rlimit limit;
  if (getrlimit(ResourceArg(info), &limit) != 0) throw ErrnoError(info.Env(), errno, "getrlimit");
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("soft", LimitValue(info.Env(), limit.rlim_cur));
  result.Set("hard", LimitValue(info.Env(), limit.rlim_max));
  return result;
}

// setrlimit(resource, soft, hard): -1 means unlimited. EPERM when raising hard without privilege.
Napi::Value Setrlimit(const Napi::CallbackInfo& info) {
  struct rlimit limit;
  limit.rlim_cur = LimitArg(info, 1, "soft");
  limit.rlim_max = LimitArg(info, 2, "hard");
  if (setrlimit(ResourceArg(info), &limit) != 0) throw ErrnoError(info.Env(), errno, "setrlimit");
  return info.Env().Undefined();
}

}  // namespace posix
