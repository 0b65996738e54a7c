// unix.cc: local sockets that carry descriptors: socketpair, and sendmsg/recvmsg
// with SCM_RIGHTS, which hand an open file (here: an accepted client socket) to
// another process. See: man 2 socketpair, sendmsg, recvmsg; man 7 unix, cmsg.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "exports.h"
#include "helpers.h"

namespace posix {

// socketpair([into]): [fd, fd], a connected pair of close-on-exec AF_UNIX SOCK_SEQPACKET
// sockets: each send is one message, kept whole, in order. Given an Int32Array of at
// least two elements, it writes the pair there and returns that array: no new object,
// for a loop that must not allocate (the zygote's).
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  const bool hasInto = info.Length() > 0 && !info[0].IsUndefined();
  if (hasInto && (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
                  info[0].As<Napi::TypedArray>().ElementLength() < 2)) {
    ThrowTypeError(info.Env(), "into must be an Int32Array of at least 2 elements");
  }
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) throw ErrnoError(info.Env(), errno, "socketpair");
  if (!hasInto) return FdPair(info.Env(), fds);
  Napi::Int32Array into = info[0].As<Napi::Int32Array>();
  into[0] = fds[0];
  into[1] = fds[1];
  return into;
}

namespace {

// One message of `span`'s bytes with room for one descriptor in its control data:
// the msghdr that sendmsg() fills from and recvmsg() fills in.
struct OneFdMessage {
  struct iovec iov;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};

  explicit OneFdMessage(Span span) : iov{span.data, span.length} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  OneFdMessage(const OneFdMessage&) = delete;  // msg points into this object
  OneFdMessage& operator=(const OneFdMessage&) = delete;
};

// A Buffer range of at least one byte: a message of none cannot be told from the
// end of the connection (recvmsg() returns 0 for both).
Span NonEmptyBufferArg(const Napi::CallbackInfo& info, size_t index) {
  Span span = BufferRangeArg(info, index);
  if (span.length == 0) {
    Napi::Error error = Napi::RangeError::New(info.Env(), "Expected \"buffer\" to hold at least one byte, got an empty one");
    error.Set("code", Napi::String::New(info.Env(), "ERR_OUT_OF_RANGE"));
    throw error;
  }
  return span;
}

}  // namespace

// sendFd(socket, passFd, buffer): one message of `buffer`'s bytes (at least one)
// carrying a copy of descriptor `passFd`. Returns the bytes sent, null on EAGAIN.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0, "socket");
  int pass = FdArg(info, 1, "passFd");
  Span span = NonEmptyBufferArg(info, 2);
  OneFdMessage message(span);
  struct msghdr& msg = message.msg;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &pass, sizeof(int));
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL); while (n == -1 && errno == EINTR);
  return CountOrNull(info.Env(), n, "sendmsg");
}

// recvFd(socket, buffer): one message into `buffer` (at least one byte): {bytes, fd},
// where fd is the descriptor it carried (close-on-exec) or null; bytes 0 when the peer
// has closed; null on EAGAIN. A message longer than `buffer` is cut (its rest is gone:
// each message is one record): the result then also holds `truncated: true`.
//
// A message carries one descriptor here. When its control data held more than fit
// (MSG_CTRUNC: the kernel dropped some; also when this process is at its descriptor
// limit) or more than one, every descriptor that did arrive is closed (none leaks into
// a process that does not know of it) and this throws ERR_POSIX_CTRUNC.
Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0, "socket");
  OneFdMessage message(NonEmptyBufferArg(info, 1));
  struct msghdr& msg = message.msg;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC); while (n == -1 && errno == EINTR);
  if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return env.Null();
  if (n == -1) throw ErrnoError(env, errno, "recvmsg");
  std::vector<int> received;
  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS || cmsg->cmsg_len < CMSG_LEN(0)) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int one;
      memcpy(&one, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      received.push_back(one);
    }
  }
  bool cut = (msg.msg_flags & MSG_CTRUNC) != 0;
  if (cut || received.size() > 1) {
    for (int one : received) close(one);
    std::string closed = std::to_string(received.size());
    std::string text = cut ? "a message's control data was cut off (MSG_CTRUNC: it carried more descriptors than fit, "
                             "or this process is at its descriptor limit); the " + closed + " that arrived were closed, recvmsg"
                           : "a message carried " + closed + " descriptors where one was expected; all were closed, recvmsg";
    Napi::Error error = Napi::Error::New(env, text);
    error.Set("code", Napi::String::New(env, "ERR_POSIX_CTRUNC"));
    error.Set("syscall", Napi::String::New(env, "recvmsg"));
    error.Set("bytes", Napi::Number::New(env, static_cast<double>(n)));
    throw error;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("bytes", Napi::Number::New(env, static_cast<double>(n)));
  result.Set("fd", received.empty() ? env.Null() : Napi::Value(Napi::Number::New(env, received[0])));
  if ((msg.msg_flags & MSG_TRUNC) != 0) result.Set("truncated", Napi::Boolean::New(env, true));
  return result;
}

}  // namespace posix
