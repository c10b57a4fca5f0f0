import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PROJECT_ROOT } from '../paths.js';

// The page's files, read once at start and served from memory: the page (web/ in the package)
// and two small libraries from npm (htm's Preact bundle, uPlot), under /assets/. Nothing is
// built and nothing is fetched from elsewhere.

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** URL path → file: the page's own files, then the vendored ones. */
function sources(): ReadonlyArray<readonly [string, string]> {
  const web = path.join(PROJECT_ROOT, 'web');
  return [
    ['/', path.join(web, 'index.html')],
    ['/assets/app.js', path.join(web, 'app.js')],
    ['/assets/style.css', path.join(web, 'style.css')],
    ['/assets/favicon.svg', path.join(web, 'favicon.svg')],
    // Preact, its hooks and htm in one ES module (13 kB, 5.3 kB gzipped).
    ['/assets/vendor/preact-htm.js', path.join(packageDir('htm'), 'preact', 'standalone.module.js')],
    ['/assets/vendor/uplot.js', path.join(packageDir('uplot'), 'dist', 'uPlot.iife.min.js')],
    ['/assets/vendor/uplot.css', path.join(packageDir('uplot'), 'dist', 'uPlot.min.css')],
  ];
}

/** An installed package's folder: up from its entry point (their `exports` do not all list package.json). */
function packageDir(name: string): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve(name));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

export function loadAssets(): ReadonlyMap<string, Asset> {
  return new Map(
    sources().map(([url, file]) => {
      const body = readFileSync(file);
      return [url, { body, type: TYPES[path.extname(file)] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }] as const;
    }),
  );
}
