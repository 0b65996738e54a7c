// Import rules for src/, checked by `npm run lint:imports`
// (depcruise src --config .dependency-cruiser.cjs). Paths are regular expressions
// against paths relative to the repository root, with forward slashes.
//
// Type-only imports count (tsPreCompilationDeps: true): a cycle through an
// `import type` is still a layering knot, and a pure module that imports types
// from src/posix/ is one `import type` -> `import` edit away from loading the addon.

/** Modules that must run without the native addon (unit-testable on any machine). */
const PURE_CORE = [
  '^src/protocol/', // record codec, crc32, telnet decoder, line editor/assembler, text, rate limit
  '^src/chat/',
  '^src/cluster/(protocol|redis-input|redis-url)\\.ts$', // what the link accepts from Redis, URLs without passwords
  '^src/store/(store|shared-store)\\.ts$', // the Store interface the chat names; the --redis store over it
  '^src/cluster/(shared-(input|redis)|link-shared)\\.ts$', // the shared data: its checks, its Redis side
  '^src/contracts\\.ts$',
  '^src/config\\.ts$',
  '^src/pipe/(writer|link-pipe)\\.ts$',
  '^src/cluster/(redis-(link|schema|credentials)|link-(presence|publish))\\.ts$', // the Redis link is a separate Node program
  '^src/hasher/(hasher-process|protocol|scrypt)\\.ts$', // so is the password hasher
  '^src/log\\.ts$',
  '^src/web/', // the page's files, the HTTP answers
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles in src/ (type-only imports included).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'pure-core-no-addon',
      severity: 'error',
      comment:
        'The pure core (protocol, chat, cluster/protocol, contracts, config, pipe/writer) must not ' +
        'reach src/posix/ (the addon loader), directly or through any chain of imports.',
      from: { path: PURE_CORE },
      to: { path: '^src/posix/', reachable: true },
    },
    {
      name: 'chat-and-cluster-not-parent',
      severity: 'error',
      comment: 'src/chat/ and src/cluster/ must not import src/parent/ (shared types belong in src/contracts.ts).',
      from: { path: '^src/(chat|cluster)/' },
      to: { path: '^src/parent/' },
    },
    {
      name: 'scrypt-only-off-the-loop',
      severity: 'error',
      comment:
        'Only the hasher process and the admin CLI may hash passwords (src/hasher/scrypt.ts): on the ' +
        "server's loop one scrypt stalls every client. The chat asks the hasher (PasswordHasher in contracts.ts).",
      from: { pathNot: ['^src/hasher/hasher-process\\.ts$', '^src/admin(-redis)?\\.ts$'] },
      to: { path: '^src/hasher/scrypt\\.ts$' },
    },
    {
      name: 'only-loader-loads-addon',
      severity: 'error',
      comment:
        'Only src/posix/binding.ts may load the built addon. Partial check: it catches a static ' +
        "import/require of a .node file (e.g. require('../build/Release/posix.node')); a path " +
        'computed at run time (as binding.ts itself does) is invisible to dependency-cruiser. ' +
        'bin/posix-chat.cjs is allowed: it must block signals before any ES module loads.',
      from: { pathNot: ['^src/posix/binding\\.ts$', '^bin/posix-chat\\.cjs$'] },
      to: { path: ['\\.node$', '(^|/)build/(Release|Debug)/'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file is a typo or a missing .ts after a move.',
      from: { path: '^src/' },
      // .node: the addon may not be built yet when lint runs.
      to: { couldNotResolve: true, pathNot: '\\.node$' },
    },
  ],
  options: {
    // build/ is followed-not-excluded so that only-loader-loads-addon can see a .node import.
    doNotFollow: { path: ['node_modules', '^build/'] },
    // src/web/page/ is the browser's: its imports are URLs this server serves, not modules here.
    exclude: { path: '^(dist|node_modules|\\.ci|src/web/page)/' },
    moduleSystems: ['es6', 'cjs'],
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      // `.js` specifiers (NodeNext style) resolve to the `.ts` source: when the .js file
      // does not exist, dependency-cruiser retries the same path with .ts/.tsx/.d.ts
      // (it has no extensionAlias option; the config schema rejects one).
      extensions: ['.ts', '.js', '.cjs', '.mjs', '.json', '.node'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
