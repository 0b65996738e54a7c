/**
 * Command-line and environment parsing (src/config.ts): every option's flag and
 * POSIX_CHAT_* variable, which wins, the value checks and their messages.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, envName, helpText, OPTIONS, parseCommandLine, type Command, type Config } from '../../src/config.js';
import { LOG_LEVELS } from '../../src/log.js';
import { MAX_RECORD_DATA_BYTES } from '../../src/protocol/record.js';

const DEFAULTS: Config = {
  host: '127.0.0.1',
  port: 4444,
  backlog: 4096,
  maxLineBytes: 512,
  announceUpTo: 1000,
  historyLines: 20,
  timestamps: true,
  motd: '',
  classic: false,
  rateLimit: 10,
  rateBurst: 20,
  maxClients: 0,
  maxPerIp: 20,
  priorityBoost: 10,
  memoryReserve: 256,
  ipv6Prefix: 64,
  proxyProtocol: false,
  trustedProxy: [],
  idleTimeout: 0,
  sendqBytes: 256 * 1024,
  trace: false,
  traceIdle: false,
  zygote: true,
  redis: '',
  redisUrlFile: '',
  redisCa: '',
  serverName: '',
  logLevel: 'info',
  user: '',
  webPort: null,
  webHost: '',
  webOrigin: [],
  dataDir: '',
};

/** For every option: its flag, and a valid value other than its default, as text and as parsed. */
const SAMPLES: { [K in keyof Config]: { flag: string; text: string; value: Config[K] } } = {
  host: { flag: 'host', text: '::1', value: '::1' },
  port: { flag: 'port', text: '5000', value: 5000 },
  backlog: { flag: 'backlog', text: '16', value: 16 },
  maxLineBytes: { flag: 'max-line', text: '1000', value: 1000 },
  announceUpTo: { flag: 'announce-up-to', text: '0', value: 0 },
  historyLines: { flag: 'history', text: '0', value: 0 },
  timestamps: { flag: 'timestamps', text: 'off', value: false },
  motd: { flag: 'motd', text: '/etc/motd', value: '/etc/motd' },
  classic: { flag: 'classic', text: 'on', value: true },
  rateLimit: { flag: 'rate-limit', text: '0', value: 0 },
  rateBurst: { flag: 'rate-burst', text: '5', value: 5 },
  maxClients: { flag: 'max-clients', text: '100', value: 100 },
  maxPerIp: { flag: 'max-per-ip', text: '0', value: 0 },
  priorityBoost: { flag: 'priority-boost', text: '0', value: 0 },
  memoryReserve: { flag: 'memory-reserve', text: '0', value: 0 },
  ipv6Prefix: { flag: 'ipv6-prefix', text: '48', value: 48 },
  proxyProtocol: { flag: 'proxy-protocol', text: 'on', value: true },
  trustedProxy: { flag: 'trusted-proxy', text: '127.0.0.1, 10.0.0.0/8,fd00::/8', value: ['127.0.0.1', '10.0.0.0/8', 'fd00::/8'] },
  idleTimeout: { flag: 'idle-timeout', text: '600', value: 600 },
  sendqBytes: { flag: 'sendq', text: '65536', value: 65536 },
  trace: { flag: 'trace', text: 'on', value: true },
  traceIdle: { flag: 'trace-idle', text: 'on', value: true },
  zygote: { flag: 'zygote', text: 'off', value: false },
  redis: { flag: 'redis', text: 'redis://127.0.0.1:6379', value: 'redis://127.0.0.1:6379' },
  redisUrlFile: { flag: 'redis-url-file', text: '/run/secrets/redis', value: '/run/secrets/redis' },
  redisCa: { flag: 'redis-ca', text: '/etc/redis/ca.pem', value: '/etc/redis/ca.pem' },
  serverName: { flag: 'server-name', text: 'alpha', value: 'alpha' },
  logLevel: { flag: 'log-level', text: 'debug', value: 'debug' },
  user: { flag: 'user', text: 'nobody', value: 'nobody' },
  webPort: { flag: 'web-port', text: '8080', value: 8080 },
  webHost: { flag: 'web-host', text: '0.0.0.0', value: '0.0.0.0' },
  webOrigin: { flag: 'web-origin', text: 'https://a.example, http://b.example:8080', value: ['https://a.example', 'http://b.example:8080'] },
  dataDir: { flag: 'data-dir', text: '/var/lib/posix-chat', value: '/var/lib/posix-chat' },
};
const SAMPLE_LIST = Object.entries(SAMPLES) as [keyof Config, { flag: string; text: string; value: unknown }][];

/** Another valid value (differs from the sample), for "which wins" checks. */
const OTHER_TEXT: Record<keyof Config, string> = {
  host: '10.0.0.1',
  port: '6000',
  backlog: '32',
  maxLineBytes: '100',
  announceUpTo: '50',
  historyLines: '7',
  timestamps: 'on',
  motd: '/tmp/other',
  classic: 'off',
  rateLimit: '3',
  rateBurst: '9',
  maxClients: '50',
  maxPerIp: '4',
  priorityBoost: '2',
  memoryReserve: '512',
  ipv6Prefix: '56',
  proxyProtocol: 'off',
  trustedProxy: '::1',
  idleTimeout: '60',
  sendqBytes: '8192',
  trace: 'off',
  traceIdle: 'off',
  zygote: 'on',
  redis: 'rediss://10.0.0.2:6380',
  redisUrlFile: '/tmp/other-url',
  redisCa: '/tmp/other-ca.pem',
  serverName: 'beta',
  logLevel: 'warn',
  user: 'posix-chat',
  webPort: '9090',
  webHost: '127.0.0.2',
  webOrigin: 'https://c.example',
  dataDir: '/srv/chat',
};

function run(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Config {
  const command: Command = parseCommandLine(argv, env);
  if (command.kind !== 'run') throw new Error(`expected a run command, got ${command.kind}`);
  return command.config;
}

/** The ConfigError parseCommandLine throws, or a failure when it throws none (or another kind). */
function configError(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseCommandLine(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(argv)} ${JSON.stringify(env)}`);
}

const isSwitch = (flag: string): boolean => OPTIONS.find((option) => option.flag === flag)?.placeholder === '';

describe('the option table', () => {
  it('has exactly the options this test knows, each with its flag', () => {
    const byKey = (a: string[], b: string[]): number => (a[0] as string).localeCompare(b[0] as string);
    const table = OPTIONS.map((option): string[] => [option.key, option.flag]).sort(byKey);
    expect(table).toEqual(SAMPLE_LIST.map(([key, sample]): string[] => [key, sample.flag]).sort(byKey));
  });

  it("gives each option's default", () => {
    expect(Object.fromEntries(OPTIONS.map((option) => [option.key, option.defaultValue]))).toEqual(DEFAULTS);
  });

  it('names variables POSIX_CHAT_ and the flag upper-cased, dashes as underscores', () => {
    expect(envName('max-line')).toBe('POSIX_CHAT_MAX_LINE');
    expect(envName('port')).toBe('POSIX_CHAT_PORT');
    expect(envName('server-name')).toBe('POSIX_CHAT_SERVER_NAME');
  });
});

describe('parseCommandLine() defaults', () => {
  it('runs with every default when given no arguments and no variables', () => {
    expect(parseCommandLine([], {})).toEqual({ kind: 'run', config: DEFAULTS });
  });

  it('ignores variables that are not its own, and empty ones', () => {
    const env = Object.fromEntries(SAMPLE_LIST.map(([, sample]) => [envName(sample.flag), '']));
    expect(run([], { ...env, PORT: '1', POSIX_CHAT_BOGUS: 'x', posix_chat_port: '2' })).toEqual(DEFAULTS);
  });
});

describe.each(SAMPLE_LIST)('option %s', (key, sample) => {
  const variable = envName(sample.flag);

  if (!isSwitch(sample.flag)) {
    it(`--${sample.flag} VALUE sets it`, () => {
      expect(run([`--${sample.flag}`, sample.text])).toEqual({ ...DEFAULTS, [key]: sample.value });
    });
  }

  it(`--${sample.flag}=VALUE sets it`, () => {
    expect(run([`--${sample.flag}=${sample.text}`])).toEqual({ ...DEFAULTS, [key]: sample.value });
  });

  it(`${variable} sets it`, () => {
    expect(run([], { [variable]: sample.text })).toEqual({ ...DEFAULTS, [key]: sample.value });
  });

  it(`--${sample.flag} wins over ${variable}`, () => {
    expect(run([`--${sample.flag}=${sample.text}`], { [variable]: OTHER_TEXT[key] })[key]).toEqual(sample.value);
    expect(run([`--${sample.flag}=${OTHER_TEXT[key]}`], { [variable]: sample.text })[key]).not.toEqual(sample.value);
  });
});

describe('switches', () => {
  const switches = SAMPLE_LIST.filter(([, sample]) => isSwitch(sample.flag));

  it('are timestamps, classic, proxy-protocol, zygote, trace and trace-idle', () => {
    expect(switches.map(([key]) => key).sort()).toEqual(['classic', 'proxyProtocol', 'timestamps', 'trace', 'traceIdle', 'zygote']);
  });

  it.each(switches)('--%s turns it on, --no- turns it off, whatever the default', (key, sample) => {
    expect(run([`--${sample.flag}`])[key]).toBe(true);
    expect(run([`--no-${sample.flag}`])[key]).toBe(false);
  });

  it('--no-FLAG wins over a variable that says on, --FLAG over one that says off', () => {
    expect(run(['--no-timestamps'], { POSIX_CHAT_TIMESTAMPS: 'on' }).timestamps).toBe(false);
    expect(run(['--classic'], { POSIX_CHAT_CLASSIC: 'off' }).classic).toBe(true);
  });

  it.each([
    ['1', true],
    ['true', true],
    ['yes', true],
    ['on', true],
    ['ON', true],
    [' Yes ', true],
    ['0', false],
    ['false', false],
    ['no', false],
    ['off', false],
    ['Off', false],
  ])('read %j as %s, in a flag and in a variable', (text, value) => {
    expect(run([`--trace=${text}`]).trace).toBe(value);
    expect(run([], { POSIX_CHAT_TRACE: text }).trace).toBe(value);
  });

  it('refuse any other value, naming the flag or the variable', () => {
    expect(configError(['--timestamps=maybe']).message).toBe("--timestamps: expected on or off (true/false, 1/0), got 'maybe'");
    expect(configError([], { POSIX_CHAT_CLASSIC: '2' }).message).toBe("POSIX_CHAT_CLASSIC: expected on or off (true/false, 1/0), got '2'");
    expect(configError(['--zygote=']).message).toBe("--zygote: expected on or off (true/false, 1/0), got ''");
  });

  it('take no value after --no-', () => {
    expect(configError(['--no-timestamps=on']).message).toBe('--no-timestamps takes no value');
  });

  it('do not take the next argument as their value', () => {
    expect(configError(['--classic', 'off']).message).toBe("unknown option 'off' (see --help)");
  });
});

describe('whole-number options', () => {
  const ranges: [flag: string, key: keyof Config, min: number, max: number][] = [
    ['port', 'port', 0, 65535],
    ['backlog', 'backlog', 1, 65535],
    ['max-line', 'maxLineBytes', 1, MAX_RECORD_DATA_BYTES],
    ['announce-up-to', 'announceUpTo', 0, 10_000_000],
    ['history', 'historyLines', 0, 1000],
    ['rate-limit', 'rateLimit', 0, 100_000],
    ['rate-burst', 'rateBurst', 1, 100_000],
    ['max-clients', 'maxClients', 0, 1_000_000],
    ['max-per-ip', 'maxPerIp', 0, 1_000_000],
    ['memory-reserve', 'memoryReserve', 0, 1_000_000_000],
    ['ipv6-prefix', 'ipv6Prefix', 1, 128],
    ['idle-timeout', 'idleTimeout', 0, 10_000_000],
    ['sendq', 'sendqBytes', 4096, 2 ** 31 - 1],
    ['priority-boost', 'priorityBoost', 0, 39],
  ];

  it('cover every option whose default is a number', () => {
    const numeric = OPTIONS.filter((option) => typeof option.defaultValue === 'number').map((option) => option.flag);
    expect(ranges.map(([flag]) => flag)).toEqual(numeric);
  });

  it.each(ranges)('--%s takes %s from its minimum to its maximum', (flag, key, min, max) => {
    expect(run([`--${flag}=${min}`])[key]).toBe(min);
    expect(run([`--${flag}=${max}`])[key]).toBe(max);
  });

  it.each(ranges)('--%s refuses a number above its maximum, naming the range', (flag, _key, min, max) => {
    expect(configError([`--${flag}=${max + 1}`]).message).toBe(`--${flag}: must be between ${min} and ${max}, got ${max + 1}`);
    expect(configError([], { [envName(flag)]: String(max + 1) }).message).toBe(`${envName(flag)}: must be between ${min} and ${max}, got ${max + 1}`);
  });

  it.each(ranges.filter(([, , min]) => min > 0))('--%s refuses a number below its minimum', (flag, _key, min, max) => {
    expect(configError([`--${flag}=${min - 1}`]).message).toBe(`--${flag}: must be between ${min} and ${max}, got ${min - 1}`);
  });

  it.each(['-1', '1.5', '1e3', '0x10', '64k', '5 5', '', ' ', 'abc'])('refuse %j as not a whole number', (text) => {
    expect(configError([`--port=${text}`]).message).toBe(`--port: expected a whole number, got '${text}'`);
  });

  it('takes a --sendq size in plain bytes only: no unit suffixes', () => {
    expect(run(['--sendq', '1048576']).sendqBytes).toBe(1048576);
    for (const text of ['64k', '64K', '1M', '1MB', '256KiB']) {
      expect(configError(['--sendq', text]).message).toBe(`--sendq: expected a whole number, got '${text}'`);
    }
  });

  it('accepts leading zeros and surrounding spaces', () => {
    expect(run(['--port', '0080']).port).toBe(80);
    expect(run([], { POSIX_CHAT_PORT: ' 80 ' }).port).toBe(80);
  });

  it('names the variable when the bad value came from one', () => {
    expect(configError([], { POSIX_CHAT_PORT: 'nope' }).message).toBe("POSIX_CHAT_PORT: expected a whole number, got 'nope'");
  });

  it('does not read a bad variable whose option is given on the command line', () => {
    expect(run(['--port', '1'], { POSIX_CHAT_PORT: 'nope' }).port).toBe(1);
  });
});

describe('--host', () => {
  it.each(['0.0.0.0', '127.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', '::ffff:127.0.0.1'])('accepts the numeric address %s', (address) => {
    expect(run(['--host', address]).host).toBe(address);
  });

  it.each(['localhost', 'example.com', '256.0.0.1', '1.2.3', '1.2.3.4.5', '', '1.2.3.4 '])('refuses %j', (address) => {
    expect(configError(['--host', address]).message).toBe(
      `--host: expected a numeric IPv4 or IPv6 address such as 127.0.0.1 or ::1, got '${address}'`,
    );
  });
});

describe('--web-port, --web-host, --web-origin', () => {
  it('serves no web page unless asked; off turns it off again; 0 picks a free port', () => {
    expect(run([]).webPort).toBeNull();
    expect(run(['--web-port', 'off'], { POSIX_CHAT_WEB_PORT: '8080' }).webPort).toBeNull();
    expect(run([], { POSIX_CHAT_WEB_PORT: '8080' }).webPort).toBe(8080);
    expect(run(['--web-port', '0']).webPort).toBe(0);
    expect(configError(['--web-port', '65536']).message).toBe('--web-port: must be between 0 and 65535, got 65536');
  });

  it('takes a numeric --web-host, empty for --host', () => {
    expect(run(['--web-host', '::1']).webHost).toBe('::1');
    expect(configError(['--web-host', 'localhost']).message).toBe("--web-host: expected a numeric IPv4 or IPv6 address such as 127.0.0.1 or ::1, got 'localhost'");
  });

  it('takes origins separated by commas, and refuses a path or another scheme', () => {
    expect(run(['--web-origin', 'https://chat.example.org,http://[::1]:8080']).webOrigin).toEqual(['https://chat.example.org', 'http://[::1]:8080']);
    expect(configError(['--web-origin', 'https://chat.example.org/']).message).toBe(
      "--web-origin: expected origins such as https://chat.example.org, separated by commas, got 'https://chat.example.org/'",
    );
    expect(configError(['--web-origin', 'chat.example.org']).message).toContain("got 'chat.example.org'");
  });

  it('shows the web port off by default in --help', () => {
    expect(helpText()).toMatch(/--web-port N [^-]*default: off; env POSIX_CHAT_WEB_PORT\n/);
  });
});

describe('--redis', () => {
  it('accepts redis:// and rediss:// URLs, and an empty value for none', () => {
    expect(run(['--redis', 'redis://10.1.2.3:6379']).redis).toBe('redis://10.1.2.3:6379');
    expect(run(['--redis', 'rediss://cache:6380/0']).redis).toBe('rediss://cache:6380/0');
    expect(run(['--redis=']).redis).toBe('');
  });

  it('refuses other schemes and what is not a URL', () => {
    expect(configError(['--redis', 'http://127.0.0.1:6379']).message).toBe("--redis: expected a redis:// or rediss:// URL, got 'http://127.0.0.1:6379'");
    expect(configError(['--redis', 'tcp://127.0.0.1:6379']).message).toBe("--redis: expected a redis:// or rediss:// URL, got 'tcp://127.0.0.1:6379'");
    expect(configError(['--redis', '127.0.0.1:6379']).message).toBe("--redis: expected a URL such as redis://127.0.0.1:6379, got '127.0.0.1:6379'");
    expect(configError(['--redis', 'not a url']).message).toBe("--redis: expected a URL such as redis://127.0.0.1:6379, got 'not a url'");
    expect(configError([], { POSIX_CHAT_REDIS: 'not a url' }).message).toBe("POSIX_CHAT_REDIS: expected a URL such as redis://127.0.0.1:6379, got 'not a url'");
  });
});

describe('--trusted-proxy', () => {
  it('takes addresses and ranges, IPv4 and IPv6, separated by commas or spaces', () => {
    expect(run(['--trusted-proxy', '127.0.0.1']).trustedProxy).toEqual(['127.0.0.1']);
    expect(run([], { POSIX_CHAT_TRUSTED_PROXY: '10.0.0.0/8 192.168.0.0/16, ::1,2001:db8::/32' }).trustedProxy).toEqual(['10.0.0.0/8', '192.168.0.0/16', '::1', '2001:db8::/32']);
  });

  it('refuses a name, a bad length or a bad address, naming it', () => {
    for (const bad of ['proxy.example', '10.0.0.0/33', '::1/129', '10.0.0.0/', '1.2.3', '010.0.0.1', '10.0.0.0/8/8', 'fe80::1%eth0']) {
      expect(configError(['--trusted-proxy', `127.0.0.1,${bad}`]).message).toBe(
        `--trusted-proxy: expected addresses or ranges such as 127.0.0.1, 10.0.0.0/8 or fd00::/8, separated by commas; got '${bad}'`,
      );
    }
  });
});

describe('--server-name', () => {
  it('accepts up to 40 printable characters without spaces', () => {
    expect(run(['--server-name', 'x'.repeat(40)]).serverName).toBe('x'.repeat(40));
    expect(run(['--server-name', 'eu-1.example:4444']).serverName).toBe('eu-1.example:4444');
  });

  it.each(['x'.repeat(41), 'two words', 'tab\there', 'caf\u00e9'])('refuses %j', (name) => {
    expect(configError(['--server-name', name]).message).toBe(`--server-name: expected up to 40 printable characters without spaces, got '${name}'`);
  });
});

describe('--user', () => {
  it.each(['nobody', 'posix-chat', '_svc', 'www-data', 'a.b'])('accepts %j', (name) => {
    expect(run(['--user', name]).user).toBe(name);
  });

  it.each(['0day', '-x', 'a b', 'root;id', 'x'.repeat(33), 'jos\u00e9'])('refuses %j', (name) => {
    expect(configError(['--user', name]).message).toBe(`--user: expected a user name such as nobody, got '${name}'`);
  });
});

describe('--log-level', () => {
  it.each([...LOG_LEVELS])('accepts %s', (level) => {
    expect(run(['--log-level', level]).logLevel).toBe(level);
  });

  it('refuses any other level, listing the levels', () => {
    expect(configError(['--log-level', 'verbose']).message).toBe("--log-level: expected one of debug, info, warn, error, silent, got 'verbose'");
    expect(configError(['--log-level', 'INFO']).message).toBe("--log-level: expected one of debug, info, warn, error, silent, got 'INFO'");
  });
});

describe('--motd', () => {
  it('takes any text as the file name, an = included', () => {
    expect(run(['--motd=a=b.txt']).motd).toBe('a=b.txt');
    expect(run(['--motd', 'with space.txt']).motd).toBe('with space.txt');
  });
});

describe('bad command lines', () => {
  it.each(['--bogus', '-p', 'port', '--PORT', '--', '-', '--no-port', '--no-motd', '--port5', '---port'])('refuses the unknown option %j', (arg) => {
    const error = configError([arg]);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe(`unknown option '${arg}' (see --help)`);
  });

  it('says which option is missing its value', () => {
    expect(configError(['--port']).message).toBe('--port: missing value');
    expect(configError(['--classic', '--host']).message).toBe('--host: missing value');
  });

  it('takes the next argument as the value, so an option there is a bad value for the first', () => {
    expect(configError(['--port', '--host']).message).toBe("--port: expected a whole number, got '--host'");
  });

  it('reads every argument before checking any value: a stray argument is reported first', () => {
    // --port swallows --host, which leaves ::1 standing alone.
    expect(configError(['--port', '--host', '::1']).message).toBe("unknown option '::1' (see --help)");
    expect(configError(['--port=x', '--bogus']).message).toBe("unknown option '--bogus' (see --help)");
  });

  it('stops at the first unknown option', () => {
    expect(configError(['--bogus', '--port', 'x']).message).toBe("unknown option '--bogus' (see --help)");
  });

  it('lets the last of a repeated option win', () => {
    expect(run(['--port', '1', '--port=2']).port).toBe(2);
    expect(run(['--no-trace', '--trace']).trace).toBe(true);
  });
});

describe('--help and --version', () => {
  it.each([
    ['--help', 'help'],
    ['-h', 'help'],
    ['--version', 'version'],
    ['-v', 'version'],
  ])('%s gives the %s command', (arg, kind) => {
    expect(parseCommandLine([arg], {})).toEqual({ kind });
  });

  it('answer before any value is checked: later bad options and bad variables do not matter', () => {
    expect(parseCommandLine(['--port', '1', '--help', '--bogus'], { POSIX_CHAT_PORT: 'nope' })).toEqual({ kind: 'help' });
    expect(parseCommandLine(['--port=x', '--version'], {})).toEqual({ kind: 'version' });
  });

  it('come too late after an unknown option', () => {
    expect(configError(['--bogus', '--help']).message).toBe("unknown option '--bogus' (see --help)");
  });
});

describe('helpText()', () => {
  const text = helpText();
  const lines = text.split('\n');
  /** An option's row: its first line and the lines indented under it, as one string. */
  const rowOf = (left: string): string => {
    const start = lines.findIndex((line) => line.startsWith(`  ${left} `) || line === `  ${left}`);
    if (start === -1) return '';
    const end = lines.findIndex((line, i) => i > start && !line.startsWith(' '.repeat(26)));
    return lines.slice(start, end).map((line) => line.trim().replace(/ {2,}/g, ' ')).join(' ');
  };

  it('fits an 80-column terminal', () => {
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(79);
  });

  it('has a row per option with its placeholder, help, default and variable', () => {
    expect(rowOf('--port N')).toBe('--port N TCP port; 0 picks a free one default: 4444; env POSIX_CHAT_PORT');
    expect(rowOf('--sendq BYTES')).toContain('default: 262144; env POSIX_CHAT_SENDQ');
    for (const option of OPTIONS) {
      const left = option.placeholder === '' ? `--[no-]${option.flag}` : `--${option.flag} ${option.placeholder}`;
      const row = rowOf(left);
      expect(row, option.flag).toContain(option.help);
      expect(row).toMatch(new RegExp(`default: [^;]+; env ${envName(option.flag)}$`));
    }
  });

  it('shows switches as --[no-]FLAG with on/off defaults, an empty default as none, and says what a derived one is', () => {
    expect(rowOf('--[no-]timestamps')).toContain('default: on; env POSIX_CHAT_TIMESTAMPS');
    expect(rowOf('--[no-]classic')).toContain('default: off; env POSIX_CHAT_CLASSIC');
    expect(rowOf('--motd FILE')).toContain('default: none; env POSIX_CHAT_MOTD');
    expect(rowOf('--max-clients N')).toContain('default: 0; env POSIX_CHAT_MAX_CLIENTS');
    expect(rowOf('--server-name NAME')).toContain('default: HOST:PORT; env POSIX_CHAT_SERVER_NAME');
  });

  it('starts with the usage, lists -h and -v, gives the exit codes, and ends with the admin commands and a newline', () => {
    expect(text.startsWith('Usage: posix-chat [options]\n')).toBe(true);
    expect(text).toMatch(/^ {2}-h, --help +show this help$/m);
    expect(text).toMatch(/^ {2}-v, --version +show the version$/m);
    expect(text).toMatch(/Exit codes: 0 [^]* 2 bad option\.\n/);
    expect(text).toMatch(/posix-chat\s+audit\s+\(posix-chat\s+user\s+--help\s+says\s+more\)\.\n$/);
  });
});
