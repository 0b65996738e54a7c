/**
 * The command line: read the options, listen, print `Listening on HOST:PORT...`
 * (as the original did), and run the server's loop until a stop signal.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAdminCommand, runAdmin } from './admin.js';
import { Chat } from './chat/chat.js';
import { ClassicChat } from './chat/classic-chat.js';
import { refreshShared } from './chat/shared-changes.js';
import { Cluster, PRESENCE_TTL_SECONDS } from './cluster/cluster.js';
import { redisTarget, type RedisTarget } from './cluster/redis-credentials.js';
import { ConfigError, helpText, parseCommandLine, type Config } from './config.js';
import { Hasher } from './hasher/hasher.js';
import { Logger, messageOf } from './log.js';
import { backlogNote, maxClientsHere } from './parent/admission.js';
import { becomeUser, rootRefusal } from './parent/privileges.js';
import { raisePriority } from './scheduling.js';
import { StartError, type BroadcastServerOptions } from './parent/server-options.js';
import { SocketServerBroadcast } from './parent/socket-server-broadcast.js';
import { formatHostPort, ListenError } from './parent/socket-server.js';
import { getpwnam, isSingleThreaded } from './posix/index.js';
import { parseRange } from './protocol/address.js';
import { cleanLines } from './protocol/line-editor.js';
import { dataDirPath, prepareDataDir, removeUnusedDataDir } from './store/data-dir.js';
import { SharedStore } from './store/shared-store.js';
import { memoryStorage, sqliteStorage } from './store/storage.js';
import { noTrace, stderrTrace } from './trace.js';
import type { WebSettings } from './web/respond.js';
import { loadSite } from './web/site.js';

export const EXIT_OK = 0;
export const EXIT_START_FAILED = 1;
export const EXIT_USAGE = 2;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The message of the day, cleaned like any client's text: it goes to every terminal. */
function readMotd(file: string, maxLineBytes: number): string[] {
  return cleanLines(readFileSync(file), maxLineBytes);
}

/** Runs the server; returns the process exit code. */
export function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): number | Promise<number> {
  if (isAdminCommand(argv)) return runAdmin(argv, env);
  let config: Config;
  let redis: RedisTarget;
  try {
    const command = parseCommandLine(argv, env);
    if (command.kind === 'help') {
      process.stdout.write(helpText());
      return EXIT_OK;
    }
    if (command.kind === 'version') {
      process.stdout.write(`posix-chat ${version()}\n`);
      return EXIT_OK;
    }
    redis = redisTarget(command.config, argv);
    config = { ...command.config, redis: redis.url };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`posix-chat: ${error.message}\n`);
    return EXIT_USAGE;
  }
  if (config.classic && config.redis !== '') {
    process.stderr.write('posix-chat: --classic and --redis do not go together: the original format has no names to share\n');
    return EXIT_USAGE;
  }
  if (config.proxyProtocol !== (config.trustedProxy.length > 0)) {
    process.stderr.write(
      config.proxyProtocol
        ? 'posix-chat: --proxy-protocol needs --trusted-proxy: the addresses of the proxies whose PROXY header to believe\n'
        : 'posix-chat: --trusted-proxy is only used with --proxy-protocol\n',
    );
    return EXIT_USAGE;
  }
  if (!isSingleThreaded()) {
    process.stderr.write('posix-chat: run node with --single-threaded (npm start and the posix-chat bin do): forked children need it\n');
    return EXIT_USAGE;
  }

  const refusal = rootRefusal(process.getuid?.() ?? -1, config.user);
  if (refusal !== null) {
    process.stderr.write(`posix-chat: ${refusal}\n`);
    return EXIT_START_FAILED;
  }

  let motd: string[] = [];
  try {
    motd = config.motd === '' ? [] : readMotd(config.motd, config.maxLineBytes);
  } catch (error) {
    process.stderr.write(`posix-chat: --motd: cannot read ${config.motd}: ${messageOf(error)}\n`);
    return EXIT_USAGE;
  }

  let webPage: WebSettings | null = null;
  try {
    if (config.webPort !== null) webPage = { site: loadSite(), origins: config.webOrigin };
  } catch (error) {
    process.stderr.write(`posix-chat: --web-port: cannot read the web page's files: ${messageOf(error)}\n`);
    return EXIT_START_FAILED;
  }

  const log = new Logger(config.logLevel);
  if (redis.warning !== '') log.warn(redis.warning);
  let dataDir = '';
  let dataDirMade: string | null = null;
  if (!config.classic) {
    try {
      [dataDir, dataDirMade] = prepareData(config, env);
    } catch (error) {
      process.stderr.write(`posix-chat: --data-dir: ${messageOf(error)}\n`);
      return EXIT_START_FAILED;
    }
  }
  const here = maxClientsHere(config.sendqBytes);
  const maxClients = config.maxClients === 0 ? here.max : config.maxClients;
  const cluster =
    config.redis === ''
      ? undefined
      : new Cluster({
          url: config.redis,
          caFile: config.redisCa,
          serverName: config.serverName,
          presenceTtl: PRESENCE_TTL_SECONDS,
          logLevel: config.logLevel,
          log,
        });
  // Accounts need passwords hashed, away from the loop: --classic has no accounts, so no hasher.
  const hasher = config.classic ? undefined : new Hasher(log, config.logLevel);
  const makeChat = (cluster?: Cluster, hasher?: Hasher): Chat | ClassicChat =>
    config.classic ? new ClassicChat() : new Chat({ historyLines: config.historyLines, announceUpTo: config.announceUpTo === 0 ? Infinity : config.announceUpTo, timestamps: config.timestamps, motd, maxLineBytes: config.maxLineBytes, cluster, hasher, log: (level, text) => log[level](text) });
  const chat = makeChat(cluster, hasher);
  const shared = chat instanceof Chat && cluster !== undefined ? new SharedStore(cluster, (level, text) => log[level](text)) : null;
  if (shared !== null && chat instanceof Chat) shared.onChange = (items, replace, replaced) => refreshShared(chat, items, replace, replaced);
  const storage = chat instanceof Chat ? sqliteStorage(dataDir, (store) => chat.useStore(store), shared) : undefined;
  // The server's options, or (`rehearsal`) those of its start-up rehearsal's stand-in: a
  // chat of its own (with a database in memory, but for --classic), a silent log, no
  // zygote and no sidecars.
  const serverOptions = (rehearsal: boolean): BroadcastServerOptions => {
    const ours = rehearsal ? makeChat() : chat;
    return {
      host: config.host,
      port: config.port,
      backlog: config.backlog,
      web: config.webPort === null ? null : { host: config.webHost === '' ? config.host : config.webHost, port: config.webPort },
      webPage,
      maxLineBytes: config.maxLineBytes,
      inputMode: config.classic ? 'classic' : 'chat',
      sendqLimitBytes: config.sendqBytes,
      rateLimit: config.rateLimit === 0 ? null : { perSecond: config.rateLimit, burst: config.rateBurst },
      maxClients,
      maxPerAddress: config.maxPerIp,
      memoryReserveBytes: config.memoryReserve * 2 ** 20,
      ipv6PrefixBits: config.ipv6Prefix,
      idleTimeoutSeconds: config.idleTimeout,
      tracer: config.trace ? stderrTrace : noTrace,
      traceIdle: config.traceIdle,
      zygote: rehearsal ? false : config.zygote,
      trustedProxies: rehearsal || !config.proxyProtocol ? null : config.trustedProxy.map((range) => parseRange(range)).filter((range) => range !== null),
      sidecars: rehearsal ? [] : [hasher, cluster].filter((sidecar) => sidecar !== undefined),
      storage: !rehearsal ? storage : ours instanceof Chat ? memoryStorage((store) => ours.useStore(store)) : undefined,
      chat: ours,
      log: rehearsal ? new Logger('silent') : log,
      rehearsal: rehearsal ? undefined : () => serverOptions(true),
    };
  };
  const server = new SocketServerBroadcast(serverOptions(false));
  try {
    const address = server.listen();
    // Before root is given up, while it still may (src/scheduling.ts).
    const nice = raisePriority(config.priorityBoost);
    if (nice !== null) log.info(`the parent runs at nice ${nice}, ${config.priorityBoost} above the processes it starts`);
    else if (config.priorityBoost > 0) log.debug('the parent runs at the priority it was started with (a higher one needs root or CAP_SYS_NICE)');
    const became = config.user === '' ? null : becomeUser(config.user);
    if (became !== null) log.info(became);
    if (cluster !== undefined && config.serverName === '') cluster.settings.serverName = formatHostPort(address.address, address.port);
    // Printed once the loop is ready (with --redis: once the link is), as the original did.
    server.run(() => {
      if (config.maxClients === 0) log.info(`at most ${maxClients} clients at once (set by ${here.why}; --max-clients to change)`);
      else if (maxClients > here.max) log.warn(`--max-clients ${maxClients}: this machine can serve about ${here.max} at once (set by ${here.why}); past that, connections fail`);
      const backlog = backlogNote(config.backlog);
      if (backlog !== null) log.warn(backlog);
      if (dataDir !== '') log.info(`data directory ${dataDir}${dataDirMade === null ? '' : ' (made now)'}`);
      const web = server.webAddress;
      if (web !== null) process.stdout.write(`Web page on http://${formatHostPort(web.address, web.port)}/\n`);
      process.stdout.write(`Listening on ${formatHostPort(address.address, address.port)}...\n`);
    });
  } catch (error) {
    if (!(error instanceof ListenError || error instanceof StartError)) throw error;
    if (error.message !== '') process.stderr.write(`posix-chat: ${error.message}\n`);
    removeUnusedDataDir(dataDir, dataDirMade); // a server that never ran leaves no trace
    return EXIT_START_FAILED;
  }
  return EXIT_OK;
}

/**
 * The data directory: made if new (mode 0700) and, for --user, given to that user before
 * root is dropped. Its default is the state directory of whoever the server runs as.
 */
function prepareData(config: Config, env: NodeJS.ProcessEnv): [string, string | null] {
  const owner = config.user === '' || process.getuid?.() !== 0 ? null : getpwnam(config.user);
  const other = owner !== null && owner.uid !== 0;
  if (other && config.dataDir === '' && !existsSync(owner.dir)) throw new Error(`${owner.name} has no home directory (${owner.dir}): give --data-dir DIR, e.g. /var/lib/posix-chat`);
  const home = other ? { ...env, XDG_STATE_HOME: undefined, HOME: owner.dir } : env;
  const dir = dataDirPath(config.dataDir, home);
  return [dir, prepareDataDir(dir, owner === null ? null : { uid: owner.uid, gid: owner.gid })];
}
