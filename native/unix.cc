// unix.cc: local sockets that carry descriptors: socketpair, and sendmsg/recvmsg
// with SCM_RIGHTS, which hand an open file (here: an accepted client socket) to
// another process. See: man 2 socketpair, sendmsg, recvmsg; man 7 unix, cmsg.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "exports.h"
#include "helpers.h"

namespace posix {

// socketpair(): [fd, fd], a connected pair of close-on-exec AF_UNIX SOCK_SEQPACKET
// sockets: each send is one message, kept whole, in order.
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) throw ErrnoError(info.Env(), errno, "socketpair");
  return FdPair(info.Env(), fds);
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

}  // namespace

// sendFd(socket, passFd, buffer): one message of `buffer`'s bytes (at least one)
// carrying a copy of descriptor `passFd`. Returns the bytes sent, null on EAGAIN.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "socket");
  int pass = IntArg(info, 1, "passFd");
  Span span = BufferRangeArg(info, 2);
  if (span.length == 0) ThrowTypeError(info.Env(), "buffer must hold at least one byte");
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

// recvFd(socket, buffer): one message into `buffer`: {bytes, fd}, where fd is the
// descriptor it carried (close-on-exec) or null; bytes 0 when the peer has closed;
// null on EAGAIN.
Napi::Value RecvFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "socket");
  OneFdMessage message(BufferRangeArg(info, 1));
  struct msghdr& msg = message.msg;
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC); while (n == -1 && errno == EINTR);
  if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return env.Null();
  if (n == -1) throw ErrnoError(env, errno, "recvmsg");
  Napi::Value passed = env.Null();
  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS && cmsg->cmsg_len == CMSG_LEN(sizeof(int))) {
      int received;
      memcpy(&received, CMSG_DATA(cmsg), sizeof(int));
      passed = Napi::Number::New(env, received);
    }
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("bytes", Napi::Number::New(env, static_cast<double>(n)));
  result.Set("fd", passed);
  return result;
}

}  // namespace posix
