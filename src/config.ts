/**
 * The server's options: one table that gives each option its flag, environment
 * variable, default, help text and check, so `--help`, the environment and
 * validation can never disagree. A command-line option wins over its variable.
 */
import { LOG_LEVELS, type LogLevel } from './log.js';
import { redactUrl } from './cluster/redis-url.js';
import { parseRange } from './protocol/address.js';
import { MAX_RECORD_DATA_BYTES } from './protocol/record.js';

export interface Config {
  host: string;
  port: number;
  backlog: number;
  maxLineBytes: number;
  historyLines: number;
  announceUpTo: number;
  timestamps: boolean;
  /** A file whose lines greet every newcomer, or '' for none. */
  motd: string;
  /** The original's behaviour and format: raw lines as [ADDRESS] (PID):LINE, no commands. */
  classic: boolean;
  /** Lines a second each client may send (0: no limit), and the burst allowed above it. */
  rateLimit: number;
  rateBurst: number;
  /** Clients at once (0: as many as the machine's limits allow, worked out at start). */
  maxClients: number;
  /** Clients at once from one address, an IPv6 client's address cut to `ipv6Prefix` bits (0: no limit). */
  maxPerIp: number;
  /** Newcomers are turned away while the machine has less memory than this free (MiB; 0: never). */
  memoryReserve: number;
  ipv6Prefix: number;
  /** Connections from `trustedProxy` start with a PROXY protocol header naming the real client. */
  proxyProtocol: boolean;
  /** The proxies whose PROXY header is believed: addresses or ranges (`10.0.0.0/8`, `::1`). */
  trustedProxy: string[];
  /** Seconds without a line before a client is disconnected (0: never). */
  idleTimeout: number;
  /** Unsent output a client may have queued before it is disconnected as too slow. */
  sendqBytes: number;
  /** Print every IPC step (fork, records, signals, reaps, sends) on stderr. */
  trace: boolean;
  /** With trace: also the wake-ups that found nothing to do (one a second when idle). */
  traceIdle: boolean;
  /** Fork children from a zygote forked once at start; off: from the parent, as the original did. */
  zygote: boolean;
  /** Nice levels the parent runs above every process it starts, where it may (src/scheduling.ts); 0: none. */
  priorityBoost: number;
  /** redis://HOST:PORT: join the servers sharing that Redis into one chat; '' for a lone server. */
  redis: string;
  /** A file holding the Redis URL, so its password is not on the command line; '' for none. */
  redisUrlFile: string;
  /** A PEM file of the certificate authorities a rediss:// server must chain to; '' for Node's own. */
  redisCa: string;
  /** This server's name in /who * across servers; '' for HOST:PORT. */
  serverName: string;
  logLevel: LogLevel;
  /** Started as root: the user to become once listening; '' otherwise. */
  user: string;
  /** The web page's port (0 picks a free one), or null: no web page. */
  webPort: number | null;
  /** The address the web page listens on; '' for `host`. */
  webHost: string;
  /** Origins whose pages may open the WebSocket; empty: the page's own. */
  webOrigin: string[];
  /** Where accounts, bans and history are kept; '' for the default ($XDG_STATE_HOME/posix-chat). */
  dataDir: string;
}

/** A bad option or value: the CLI prints the message as one line and exits with 2. */
export class ConfigError extends Error {}

interface OptionSpec<K extends keyof Config> {
  key: K;
  flag: string;
  /** '' for a switch: `--flag` turns it on, `--no-flag` off. */
  placeholder: string;
  help: string;
  defaultValue: Config[K];
  /** How --help shows the default, when not the value itself. */
  shownDefault?: string;
  parse(text: string, name: string): Config[K];
}

function integer(min: number, max: number) {
  return (text: string, name: string): number => {
    if (!/^\d+$/.test(text.trim())) throw new ConfigError(`${name}: expected a whole number, got '${text}'`);
    const value = Number(text);
    if (value < min || value > max) throw new ConfigError(`${name}: must be between ${min} and ${max}, got ${value}`);
    return value;
  };
}

function ipAddress(text: string, name: string): string {
  // Numeric only: resolving a name would need the thread pool, which a forking parent avoids.
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4 !== null && v4.slice(1).every((part) => Number(part) <= 255)) return text;
  if (text.includes(':') && /^[0-9a-fA-F:.]+$/.test(text)) return text;
  throw new ConfigError(`${name}: expected a numeric IPv4 or IPv6 address such as 127.0.0.1 or ::1, got '${text}'`);
}

function addressRanges(text: string, name: string): string[] {
  const ranges = text.split(/[\s,]+/).filter((range) => range !== '');
  for (const range of ranges) {
    if (parseRange(range) === null) throw new ConfigError(`${name}: expected addresses or ranges such as 127.0.0.1, 10.0.0.0/8 or fd00::/8, separated by commas; got '${range}'`);
  }
  return ranges;
}

function boolean(text: string, name: string): boolean {
  const value = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new ConfigError(`${name}: expected on or off (true/false, 1/0), got '${text}'`);
}

function text(value: string): string {
  return value;
}

export function redisUrl(text: string, name: string): string {
  if (text === '') return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`${name}: expected a URL such as redis://127.0.0.1:6379, got '${redactUrl(text)}'`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ConfigError(`${name}: expected a redis:// or rediss:// URL, got '${redactUrl(text)}'`);
  return text;
}

function serverName(text: string, name: string): string {
  if (!/^[\x21-\x7e]{0,40}$/.test(text)) throw new ConfigError(`${name}: expected up to 40 printable characters without spaces, got '${text}'`);
  return text;
}

function userName(text: string, name: string): string {
  // The portable user name set (POSIX 3.437), as useradd accepts it.
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(text)) throw new ConfigError(`${name}: expected a user name such as nobody, got '${text}'`);
  return text;
}

function optionalPort(text: string, name: string): number | null {
  return text.trim().toLowerCase() === 'off' ? null : integer(0, 65535)(text, name);
}

function optionalAddress(text: string, name: string): string {
  return text === '' ? text : ipAddress(text, name);
}

/** Origins as a browser sends them (scheme://host[:port], nothing after), separated by commas. */
function origins(text: string, name: string): string[] {
  const list = text.split(',').map((one) => one.trim()).filter((one) => one !== '');
  for (const origin of list) {
    if (!/^https?:\/\/[A-Za-z0-9.\-[\]:]+$/.test(origin)) throw new ConfigError(`${name}: expected origins such as https://chat.example.org, separated by commas, got '${origin}'`);
  }
  return list;
}

function logLevel(text: string, name: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(text)) return text as LogLevel;
  throw new ConfigError(`${name}: expected one of ${LOG_LEVELS.join(', ')}, got '${text}'`);
}

type AnyOption = { [K in keyof Config]: OptionSpec<K> }[keyof Config];

export const OPTIONS: readonly AnyOption[] = [
  { key: 'host', flag: 'host', placeholder: 'ADDRESS', help: 'address to listen on (numeric IPv4 or IPv6)', defaultValue: '127.0.0.1', parse: ipAddress },
  { key: 'port', flag: 'port', placeholder: 'N', help: 'TCP port; 0 picks a free one', defaultValue: 4444, parse: integer(0, 65535) },
  { key: 'backlog', flag: 'backlog', placeholder: 'N', help: 'connections the kernel queues before accept()', defaultValue: 4096, parse: integer(1, 65535) },
  {
    key: 'maxLineBytes',
    flag: 'max-line',
    placeholder: 'BYTES',
    help: 'longest line passed on; a longer one is cut',
    defaultValue: 512,
    parse: integer(1, MAX_RECORD_DATA_BYTES),
  },
  { key: 'announceUpTo', flag: 'announce-up-to', placeholder: 'N', help: 'tell a room who joins and leaves only while at most N others are in it; 0: no limit', defaultValue: 1000, parse: integer(0, 10_000_000) },
  { key: 'historyLines', flag: 'history', placeholder: 'N', help: 'public lines a newcomer to a room sees; 0 turns history off', defaultValue: 20, parse: integer(0, 1000) },
  { key: 'timestamps', flag: 'timestamps', placeholder: '', help: 'prefix chat lines with [HH:MM] (--no-timestamps: without)', defaultValue: true, parse: boolean },
  { key: 'motd', flag: 'motd', placeholder: 'FILE', help: 'message of the day: a text file shown to every newcomer', defaultValue: '', parse: text },
  {
    key: 'classic',
    flag: 'classic',
    placeholder: '',
    help: "the 2013 original's behaviour: [ADDRESS] (PID):LINE, raw bytes, no names or commands",
    defaultValue: false,
    parse: boolean,
  },
  { key: 'rateLimit', flag: 'rate-limit', placeholder: 'N', help: 'lines a second a client may send; 0 turns flood control off', defaultValue: 10, parse: integer(0, 100_000) },
  { key: 'rateBurst', flag: 'rate-burst', placeholder: 'N', help: 'lines a client may send at once above the rate', defaultValue: 20, parse: integer(1, 100_000) },
  { key: 'maxClients', flag: 'max-clients', placeholder: 'N', help: 'clients at once; 0: what the limits allow', defaultValue: 0, parse: integer(0, 1_000_000) },
  { key: 'maxPerIp', flag: 'max-per-ip', placeholder: 'N', help: 'clients at once from one address; 0: no limit', defaultValue: 20, parse: integer(0, 1_000_000) },
  {
    key: 'memoryReserve',
    flag: 'memory-reserve',
    placeholder: 'MIB',
    help: 'turn newcomers away while the machine has less memory than this free; 0: never',
    defaultValue: 256,
    parse: integer(0, 1_000_000_000),
  },
  { key: 'ipv6Prefix', flag: 'ipv6-prefix', placeholder: 'BITS', help: 'IPv6 clients in one such network count as one', defaultValue: 64, parse: integer(1, 128) },
  {
    key: 'proxyProtocol',
    flag: 'proxy-protocol',
    placeholder: '',
    help: 'connections from --trusted-proxy start with a PROXY protocol header (v1 or v2) giving the real client',
    defaultValue: false,
    parse: boolean,
  },
  { key: 'trustedProxy', flag: 'trusted-proxy', placeholder: 'CIDR...', help: 'the proxies whose PROXY header is believed, comma-separated: 127.0.0.1,10.0.0.0/8', defaultValue: [], parse: addressRanges },
  { key: 'idleTimeout', flag: 'idle-timeout', placeholder: 'SECONDS', help: 'disconnect a client silent this long; 0: never', defaultValue: 0, parse: integer(0, 10_000_000) },
  {
    key: 'sendqBytes',
    flag: 'sendq',
    placeholder: 'BYTES',
    help: 'unread output per client before its senders are slowed down (and a reader that takes nothing is cut)',
    defaultValue: 256 * 1024,
    parse: integer(4096, 2 ** 31 - 1),
  },
  {
    key: 'zygote',
    flag: 'zygote',
    placeholder: '',
    help: 'fork children from a small copy of the server made at start (--no-zygote: from the server itself, as the original did)',
    defaultValue: true,
    parse: boolean,
  },
  {
    key: 'priorityBoost',
    flag: 'priority-boost',
    placeholder: 'N',
    help: 'nice levels the parent runs above the processes it starts, where the system allows it (root or CAP_SYS_NICE); 0: none',
    defaultValue: 10,
    parse: integer(0, 39),
  },
  { key: 'trace', flag: 'trace', placeholder: '', help: 'print every IPC step on stderr: fork, records, kill, wake-ups, reaps, sends', defaultValue: false, parse: boolean },
  { key: 'traceIdle', flag: 'trace-idle', placeholder: '', help: 'with --trace, also the wake-ups that found nothing to do (one a second)', defaultValue: false, parse: boolean },
  {
    key: 'redis',
    flag: 'redis',
    placeholder: 'URL',
    help: 'join every server sharing this Redis (redis://[USER:PASSWORD@]HOST:PORT, rediss:// for TLS) into one chat',
    defaultValue: '',
    parse: redisUrl,
  },
  { key: 'redisUrlFile', flag: 'redis-url-file', placeholder: 'FILE', help: 'read the --redis URL from this file (keeps its password out of ps)', defaultValue: '', parse: text },
  { key: 'redisCa', flag: 'redis-ca', placeholder: 'FILE', help: 'certificate authorities (PEM) a rediss:// server must chain to', defaultValue: '', parse: text },
  {
    key: 'serverName',
    flag: 'server-name',
    placeholder: 'NAME',
    help: "this server's name in /who * with --redis",
    defaultValue: '',
    shownDefault: 'HOST:PORT',
    parse: serverName,
  },
  {
    key: 'webPort',
    flag: 'web-port',
    placeholder: 'N',
    help: 'serve the chat as a web page on this TCP port too (0 picks a free one)',
    defaultValue: null,
    shownDefault: 'off',
    parse: optionalPort,
  },
  { key: 'webHost', flag: 'web-host', placeholder: 'ADDRESS', help: "the web page's address", defaultValue: '', shownDefault: 'as --host', parse: optionalAddress },
  {
    key: 'webOrigin',
    flag: 'web-origin',
    placeholder: 'ORIGIN,...',
    help: "origins whose pages may open the chat's WebSocket, such as https://chat.example.org",
    defaultValue: [],
    shownDefault: "the page's own",
    parse: origins,
  },
  { key: 'logLevel', flag: 'log-level', placeholder: 'LEVEL', help: `log detail on stderr: ${LOG_LEVELS.join(', ')}`, defaultValue: 'info', parse: logLevel },
  {
    key: 'user',
    flag: 'user',
    placeholder: 'NAME',
    help: 'started as root: become this user once listening, before any child is forked (required as root)',
    defaultValue: '',
    parse: userName,
  },
  {
    key: 'dataDir',
    flag: 'data-dir',
    placeholder: 'DIR',
    help: 'where accounts, bans, topics and history are kept (made on first start, mode 0700)',
    defaultValue: '',
    shownDefault: '$XDG_STATE_HOME/posix-chat or ~/.local/state/posix-chat',
    parse: text,
  },
];

/** `--max-line` -> `POSIX_CHAT_MAX_LINE`. */
export function envName(flag: string): string {
  return `POSIX_CHAT_${flag.toUpperCase().replace(/-/g, '_')}`;
}

export type Command = { kind: 'run'; config: Config } | { kind: 'help' } | { kind: 'version' };

/** Reads `argv` (after the script name) and `env`; throws ConfigError naming the bad option. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  const given = new Map<string, string>();
  for (let i = 0, arg = argv[0]; arg !== undefined; arg = argv[++i]) {
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--version' || arg === '-v') return { kind: 'version' };
    const match = /^--(no-)?([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    const spec = match ? OPTIONS.find((option) => option.flag === match[2]) : undefined;
    const isSwitch = spec?.placeholder === '';
    if (!match || !spec || (match[1] !== undefined && !isSwitch)) throw new ConfigError(`unknown option '${arg}' (see --help)`);
    if (isSwitch) {
      if (match[1] !== undefined && match[3] !== undefined) throw new ConfigError(`--no-${spec.flag} takes no value`);
      given.set(spec.flag, match[1] !== undefined ? 'off' : (match[3] ?? 'on'));
      continue;
    }
    const value = match[3] ?? argv[++i];
    if (value === undefined) throw new ConfigError(`--${spec.flag}: missing value`);
    given.set(spec.flag, value);
  }
  const config: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    const fromArg = given.get(spec.flag);
    const variable = envName(spec.flag);
    const fromEnv = env[variable];
    if (fromArg !== undefined) config[spec.key] = spec.parse(fromArg, `--${spec.flag}`);
    else if (fromEnv !== undefined && fromEnv !== '') config[spec.key] = spec.parse(fromEnv, variable);
    else config[spec.key] = spec.defaultValue;
  }
  return { kind: 'run', config: config as unknown as Config };
}

/** --help fits an 80-column terminal: lines of at most this many characters. */
export const HELP_WIDTH = 79;
const HELP_INDENT = 26;

/** `text` in lines of at most `width` characters, broken at spaces (a longer word stays whole). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

/** One option or flag in --help: its name at the left, each paragraph wrapped beside and under it. */
function helpRow(left: string, ...paragraphs: string[]): string[] {
  const [first = '', ...rest] = paragraphs.flatMap((paragraph) => wrap(paragraph, HELP_WIDTH - HELP_INDENT));
  const indent = ' '.repeat(HELP_INDENT);
  const head = left.length < HELP_INDENT ? `${left.padEnd(HELP_INDENT)}${first}` : `${left}\n${indent}${first}`;
  return [head, ...rest.map((line) => `${indent}${line}`)];
}

export function helpText(): string {
  const rows = OPTIONS.flatMap((spec) => {
    const left = spec.placeholder === '' ? `  --[no-]${spec.flag}` : `  --${spec.flag} ${spec.placeholder}`;
    const value = typeof spec.defaultValue === 'boolean' ? (spec.defaultValue ? 'on' : 'off') : String(spec.defaultValue);
    const shown = spec.shownDefault ?? (value === '' ? 'none' : value);
    return helpRow(left, spec.help, `default: ${shown}; env ${envName(spec.flag)}`);
  });
  return [
    'Usage: posix-chat [options]',
    '',
    'A telnet chat server: one forked process per connection, a pipe and SIGUSR1.',
    'Connect with: telnet 127.0.0.1 4444',
    '',
    'Options:',
    ...rows,
    ...helpRow('  -h, --help', 'show this help'),
    ...helpRow('  -v, --version', 'show the version'),
    '',
    ...wrap('Exit codes: 0 stopped by SIGTERM/SIGINT/SIGHUP, 1 could not start (port in use, Redis unreachable, running as root without --user), 2 bad option.', HELP_WIDTH),
    '',
    ...wrap('Accounts and the audit trail, with or without the server running: posix-chat user add|list|del|set-role ..., posix-chat audit (posix-chat user --help says more).', HELP_WIDTH),
    '',
  ].join('\n');
}
