// socket.cc: TCP sockets: socket, setsockopt, bind, listen, getsockname,
// accept, recv, send, shutdown. See: man 2 socket, bind, listen, accept4, recv, send;
// man 7 tcp (TCP_NODELAY), socket (SO_REUSEADDR), ipv6 (IPV6_V6ONLY).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "exports.h"
#include "helpers.h"

namespace posix {
namespace {

// Fills `addr` from a numeric IPv4 or IPv6 address; names are not resolved
// (that would need the thread pool, which a forking parent must avoid).
socklen_t AddressArg(Napi::Env env, const std::string& host, int port, sockaddr_storage* addr) {
  memset(addr, 0, sizeof *addr);
  auto* v4 = reinterpret_cast<sockaddr_in*>(addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return sizeof *v4;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return sizeof *v6;
  }
  ThrowTypeError(env, "address must be a numeric IPv4 or IPv6 address");
}

// {address, port, family} of a socket address. An IPv4 peer of a dual-stack IPv6
// socket (::ffff:1.2.3.4) is given as the IPv4 address it is (1.2.3.4, 'IPv4').
Napi::Object AddressValue(Napi::Env env, const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = "";
  int port = 0;
  bool mapped = false;
  if (addr.ss_family == AF_INET6) {
    auto& v6 = reinterpret_cast<const sockaddr_in6&>(addr);
    mapped = IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr);
    if (mapped) inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof text);
    else inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  } else {
    auto& v4 = reinterpret_cast<const sockaddr_in&>(addr);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("address", text);
  result.Set("port", port);
  result.Set("family", addr.ss_family == AF_INET6 && !mapped ? "IPv6" : "IPv4");
  return result;
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (index >= info.Length() || !info[index].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  }
  return info[index].As<Napi::String>().Utf8Value();
}

}  // namespace

// socket(family): a close-on-exec TCP socket, 'IPv4' or 'IPv6'.
Napi::Value Socket(const Napi::CallbackInfo& info) {
  std::string family = StringArg(info, 0, "family");
  if (family != "IPv4" && family != "IPv6") ThrowTypeError(info.Env(), "family must be 'IPv4' or 'IPv6'");
  int fd = socket(family == "IPv6" ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) throw ErrnoError(info.Env(), errno, "socket");
  return Napi::Number::New(info.Env(), fd);
}

// setsockopt(fd, name, value): integer options by name: SO_REUSEADDR, TCP_NODELAY, SO_SNDBUF,
// SO_RCVBUF, SO_RCVLOWAT, IPV6_V6ONLY; and SO_RCVTIMEO, whose value is in microseconds (0: no timeout).
Napi::Value Setsockopt(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  std::string name = StringArg(info, 1, "name");
  // A timeout in microseconds is not negative; the other options take any C int.
  int value = name == "SO_RCVTIMEO" ? static_cast<int>(WholeArg(info, 2, "value", 0, INT_MAX)) : Int32Arg(info, 2, "value");
  int level = SOL_SOCKET, option = -1;
  if (name == "SO_REUSEADDR") option = SO_REUSEADDR;
  if (name == "SO_SNDBUF") option = SO_SNDBUF;
  if (name == "SO_RCVBUF") option = SO_RCVBUF;
  if (name == "SO_RCVLOWAT") option = SO_RCVLOWAT;
  if (name == "TCP_NODELAY") level = IPPROTO_TCP, option = TCP_NODELAY;
  if (name == "IPV6_V6ONLY") level = IPPROTO_IPV6, option = IPV6_V6ONLY;
  int result;
  if (name == "SO_RCVTIMEO") {
    timeval timeout{value / 1000000, value % 1000000};
    result = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  } else {
    if (option == -1) ThrowTypeError(info.Env(), "unsupported socket option");
    result = setsockopt(fd, level, option, &value, sizeof value);
  }
  if (result != 0) throw ErrnoError(info.Env(), errno, "setsockopt");
  return info.Env().Undefined();
}

// bind(fd, address, port): a numeric address; port 0 lets the kernel choose.
Napi::Value Bind(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  std::string host = StringArg(info, 1, "address");
  int port = static_cast<int>(WholeArg(info, 2, "port", 0, 65535));
  sockaddr_storage addr;
  socklen_t len = AddressArg(info.Env(), host, port, &addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) throw ErrnoError(info.Env(), errno, "bind");
  return info.Env().Undefined();
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  int backlog = static_cast<int>(WholeArg(info, 1, "backlog", 0, INT_MAX));
  if (listen(fd, backlog) != 0) throw ErrnoError(info.Env(), errno, "listen");
  return info.Env().Undefined();
}

// getsockname(fd): {address, port, family}: the real port after binding port 0.
Napi::Value Getsockname(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw ErrnoError(info.Env(), errno, "getsockname");
  return AddressValue(info.Env(), addr);
}

// accept(fd): {fd, address, port, family} of the new connection, with the
// *peer's* address (the original showed its own), or null when none is waiting
// on a non-blocking socket. The new socket is blocking and close-on-exec.
Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  sockaddr_storage addr;
  socklen_t len = sizeof addr;
  int client;
  do client = accept4(fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
  while (client == -1 && (errno == EINTR || errno == ECONNABORTED));
  if (client == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) return env.Null();
  if (client == -1) throw ErrnoError(env, errno, "accept");
  Napi::Object result = AddressValue(env, addr);
  result.Set("fd", client);
  return result;
}

// recv(fd, buffer, offset, length, flags): bytes received (0: end of stream), or null
// on EAGAIN (non-blocking, or SO_RCVTIMEO ran out with nothing). With MSG_PEEK the
// bytes stay queued: the next read returns them again.
Napi::Value Recv(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  Span span = BufferRangeArg(info, 1);
  int flags = Int32Arg(info, 4, "flags");
  ssize_t n;
  do n = recv(fd, span.data, span.length, flags); while (n == -1 && errno == EINTR);
  return CountOrNull(info.Env(), n, "recv");
}

// send(fd, buffer, offset, length, flags): always with MSG_NOSIGNAL, so a peer
// that has gone away gives EPIPE instead of killing us with SIGPIPE. Returns
// bytes sent, or null when MSG_DONTWAIT (in flags) finds the buffer full.
Napi::Value Send(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  Span span = BufferRangeArg(info, 1);
  int flags = Int32Arg(info, 4, "flags");
  ssize_t n;
  do n = send(fd, span.data, span.length, flags | MSG_NOSIGNAL); while (n == -1 && errno == EINTR);
  return CountOrNull(info.Env(), n, "send");
}

// sendv(fd, buffers, flags): sendmsg(2) with one iovec per Buffer (at most IOV_MAX
// of them), so a client's queued lines go out in one call without being copied
// together first. Always MSG_NOSIGNAL. Returns bytes sent, or null on EAGAIN.
Napi::Value Sendv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info, 0);
  int flags = Int32Arg(info, 2, "flags");
  if (!info[1].IsArray()) ThrowArgTypeError(info[1], "buffers", "an array of Buffers");
  Napi::Array list = info[1].As<Napi::Array>();
  uint32_t count = std::min<uint32_t>(list.Length(), IOV_MAX);
  // First every element, checked: reading one can run JavaScript (a getter), which could
  // detach or replace a buffer read before it. Only once all are read are the pointers
  // taken, and from then on no JavaScript runs until sendmsg() returns. The list holds
  // plain values, not Napi::Buffers: a Napi::Buffer reads its data pointer and length
  // when it is made (napi_get_typedarray_info) and keeps them.
  std::vector<Napi::Value> items;
  items.reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value item = list.Get(i);
    if (!IsByteArray(item)) ThrowArgTypeError(item, ("buffers[" + std::to_string(i) + "]").c_str(), "a Buffer or Uint8Array");
    items.push_back(item);
  }
  std::vector<struct iovec> iov(count);
  for (uint32_t i = 0; i < count; i++) {
    Napi::Buffer<uint8_t> buffer = items[i].As<Napi::Buffer<uint8_t>>();  // reads the pointer now
    iov[i].iov_base = buffer.Data();
    iov[i].iov_len = buffer.Length();
  }
  struct msghdr msg = {};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = count;
  ssize_t n;
  do n = sendmsg(fd, &msg, flags | MSG_NOSIGNAL); while (n == -1 && errno == EINTR);
  return CountOrNull(env, n, "sendmsg");
}

// shutdown(fd, how): 'SHUT_RD', 'SHUT_WR' or 'SHUT_RDWR'. Unlike close(), it
// acts on the connection itself, so the child blocked in read() sees EOF too.
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  int fd = FdArg(info, 0);
  std::string how = StringArg(info, 1, "how");
  int op = how == "SHUT_RD" ? SHUT_RD : how == "SHUT_WR" ? SHUT_WR : how == "SHUT_RDWR" ? SHUT_RDWR : -1;
  if (op == -1) ThrowTypeError(info.Env(), "how must be 'SHUT_RD', 'SHUT_WR' or 'SHUT_RDWR'");
  if (shutdown(fd, op) != 0) throw ErrnoError(info.Env(), errno, "shutdown");
  return info.Env().Undefined();
}

}  // namespace posix
