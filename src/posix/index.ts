/**
 * The typed face of the native addon (native/*.cc): one function per POSIX
 * call, with the arguments checked here so the C++ stays a thin wrapper.
 *
 * Every failing call throws an Error shaped like Node's own system errors:
 * `code` ('ESRCH'), `errno` (negative, as in `fs` and `net`), `syscall` ('kill')
 * and a message such as `ESRCH: No such process, kill`.
 *
 * @module posix-chat/posix
 */
export {
  constants,
  PIPE_BUF,
  signalName,
  signalNumber,
  type AcceptedSocket,
  type FcntlCommand,
  type ReceivedMessage,
  type Resource,
  type ResourceLimit,
  type Signal,
  type SignalInfo,
  type SocketAddress,
  type SocketOption,
  type UserEntry,
  type WaitResult,
} from './binding.js';
export * from './process.js';
export * from './signals.js';
export * from './fd.js';
export * from './socket.js';
