// ESLint flat config. `npm run lint` runs this (`eslint .`) and the import rules in
// .dependency-cruiser.cjs. TypeScript files get typescript-eslint's strictTypeChecked
// rules with type information from tsconfig.json (project service); the CommonJS
// launcher in bin/ and these config files get plain JavaScript rules.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const TS_FILES = ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts', 'vitest.config.ts'];

export default defineConfig(
  // osr-fork.mjs is written in V8's natives syntax (%OptimizeOsr()), which only node
  // --allow-natives-syntax parses.
  globalIgnores(['dist/', 'build/', 'node_modules/', '.ci/', 'test/fixtures/osr-fork.mjs']),

  // TypeScript: everything tsconfig.json includes.
  {
    files: TS_FILES,
    extends: [js.configs.recommended, tseslint.configs.strictTypeChecked],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.node,
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      // Numbers in template strings (fds, pids, byte counts in log lines and errors) are intended.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // Keep the rule for void values used as values, but allow `() => cb()` and
      // `return this.tell(...)` inside a function declared to return void (early-return style).
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true },
      ],
      // Control characters in regexes are deliberate here: telnet and chat text sanitizing.
      'no-control-regex': 'off',
    },
  },

  // bin/ is CommonJS (it must run before any ES module loads); it, the config files and
  // test fixtures (.mjs) are plain JavaScript: recommended rules, no type information.
  {
    files: ['**/*.cjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'commonjs',
      globals: globals.node,
    },
  },
  // The web page's own scripts run in the browser, as plain ES modules.
  {
    files: ['src/web/page/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.browser,
    },
    // Control characters in regexes are deliberate: the page shows typed ones as ^X.
    rules: { 'no-control-regex': 'off' },
  },
  {
    files: ['eslint.config.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: globals.node,
    },
  },
);
