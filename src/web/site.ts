/**
 * The page's files, read once at start in the parent and kept as whole HTTP responses:
 * every child inherits them with fork() and answers without touching the file system.
 * Our own files come from ./page/ (copied next to this module by the build); the
 * terminal (xterm.js and its fit add-on) from the installed @xterm packages, never a CDN.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { httpResponse } from '../protocol/http.js';

/**
 * Scripts only from this server (no inline script, no eval); xterm.js sets inline styles
 * on the elements it draws, hence 'unsafe-inline' for styles alone.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** One file's responses: to GET (head and body) and to HEAD (head alone). */
export interface Asset {
  get: Buffer;
  head: Buffer;
}

/** Path -> asset. */
export type Site = ReadonlyMap<string, Asset>;

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/** Where each path's file is: [URL path, file]. */
function sources(): [string, string][] {
  const page = (name: string): string => fileURLToPath(new URL(`./page/${name}`, import.meta.url));
  const resolve = createRequire(import.meta.url).resolve;
  return [
    ['/', page('index.html')],
    ['/app.js', page('app.js')],
    ['/who.js', page('who.js')],
    ['/style.css', page('style.css')],
    ['/favicon.svg', page('favicon.svg')],
    ['/xterm/xterm.mjs', resolve('@xterm/xterm/lib/xterm.mjs')],
    ['/xterm/xterm.css', resolve('@xterm/xterm/css/xterm.css')],
    ['/xterm/addon-fit.mjs', resolve('@xterm/addon-fit/lib/addon-fit.mjs')],
  ];
}

/** The asset for a file's bytes: its Content-Type from the extension, the security headers. */
export function asset(file: string, body: Buffer): Asset {
  const type = TYPES[file.slice(file.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
  const headers: [string, string][] = [
    ['Content-Type', type],
    ['Content-Security-Policy', CONTENT_SECURITY_POLICY],
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    // A restarted server may serve a newer page: browsers ask again each time.
    ['Cache-Control', 'no-cache'],
  ];
  const get = httpResponse(200, headers, body);
  return { get, head: get.subarray(0, get.length - body.length) };
}

/** Reads every file of the page; throws (naming the file) when one is missing. */
export function loadSite(): Site {
  const site = new Map<string, Asset>();
  for (const [path, file] of sources()) {
    // The source maps the bundles point to are not served: strip the pointer, so devtools do not ask.
    const body = readFileSync(file);
    const text = file.endsWith('.mjs') ? Buffer.from(body.toString('utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'), 'utf8') : body;
    site.set(path, asset(file, text));
  }
  return site;
}
