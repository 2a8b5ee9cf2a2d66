/**
 * Builds the results pages (`query-api/ui/src/`) into a handful of static files: one
 * minified ES module, one stylesheet (both named by a hash of their content, so they are
 * cached for a year) and `index.html`, which names them. Each file is also compressed
 * (gzip and brotli) once, here, so serving costs a lookup.
 *
 *   npm run build:ui                          # writes query-api/ui/dist/ (what the CDK deploys)
 *   npm run build:ui -- --out-dir <folder>
 *
 * The query API builds the same files in memory when it starts from the sources (`npm start`,
 * tests), and reads `dist/` when it runs from the container image (no sources there).
 *
 * Layout (served under `/ui/`, the same paths in the CloudFront frontend bucket):
 *   index.html                 every client-side route (`/ui/`, `/ui/experiments/{key}`, …)
 *   assets/main-<hash>.js      the application
 *   assets/styles-<hash>.css   its styles
 *
 * @example
 *   const site = await buildUiSite();
 *   site.files.get('index.html')?.body.toString(); // '<!doctype html>…'
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import { Command } from 'commander';

/** Folder of the browser sources. */
export const UI_SOURCE_DIR = fileURLToPath(new URL('./src/', import.meta.url));
/** Folder the build writes to and the container image serves from (git-ignored). */
export const UI_DIST_DIR = fileURLToPath(new URL('./dist/', import.meta.url));
/** Where the pages live on the query API (and in the frontend bucket). */
export const UI_BASE_PATH = '/ui/';
/** Ceiling of the page weight: every file the first page load downloads, gzipped. */
export const UI_PAGE_WEIGHT_BUDGET_BYTES = 150 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

/** One built file with its precomputed encodings. */
export interface UiFile {
  /** Path below `/ui/`, e.g. `assets/main-3F2A9C1B.js`. */
  path: string;
  contentType: string;
  body: Buffer;
  gzip: Buffer;
  brotli: Buffer;
  /** True for content-hashed files (cached a year, immutable). */
  immutable: boolean;
}

/** The built site: files by path below `/ui/`. */
export interface UiSite {
  files: Map<string, UiFile>;
}

/** Wraps a file's bytes with its content type and compressed forms. */
export function uiFile(filePath: string, body: Buffer): UiFile {
  return {
    path: filePath,
    contentType: CONTENT_TYPES[path.extname(filePath)] ?? 'application/octet-stream',
    body,
    gzip: gzipSync(body, { level: 9 }),
    brotli: brotliCompressSync(body, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }),
    immutable: filePath.startsWith('assets/'),
  };
}

/** The page every client-side route answers with; it names the hashed files. */
export function indexHtml(script: string, stylesheet: string): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Experiments</title>',
    `<link rel="stylesheet" href="${UI_BASE_PATH}${stylesheet}">`,
    `<script type="module" src="${UI_BASE_PATH}${script}"></script>`,
    '</head>',
    '<body>',
    '<a class="skip-link" href="#main">Skip to content</a>',
    '<header class="top"><a class="brand" href="/ui/">Experiments</a><nav aria-label="Account" id="account"></nav></header>',
    '<main id="main" tabindex="-1"><p class="loading" role="status">Loading…</p></main>',
    '<noscript>The results pages need JavaScript; the same numbers are at /api/v1/experiments/{key}/results.</noscript>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Bundles and minifies the sources; nothing is written. */
export async function buildUiSite(sourceDir: string = UI_SOURCE_DIR): Promise<UiSite> {
  // Imported here: the container image serves dist/ and never bundles.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [path.join(sourceDir, 'main.ts'), path.join(sourceDir, 'styles.css')],
    outdir: '/ui-build/assets',
    entryNames: '[name]-[hash]',
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    legalComments: 'none',
    logLevel: 'silent',
    write: false,
    metafile: true,
  });
  const files = new Map<string, UiFile>();
  let script: string | undefined;
  let stylesheet: string | undefined;
  for (const output of result.outputFiles) {
    const relative = `assets/${path.basename(output.path)}`;
    if (relative.endsWith('.js')) script = relative;
    if (relative.endsWith('.css')) stylesheet = relative;
    files.set(relative, uiFile(relative, Buffer.from(output.contents)));
  }
  if (!script || !stylesheet) throw new Error('the UI build produced no script or no stylesheet');
  files.set('index.html', uiFile('index.html', Buffer.from(indexHtml(script, stylesheet))));
  return { files };
}

/** Reads a site written by `writeUiSite` (the container image's `dist/`). */
export async function readUiSite(distDir: string = UI_DIST_DIR): Promise<UiSite> {
  const files = new Map<string, UiFile>();
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (!/\.(gz|br)$/.test(entry.name)) {
        const relative = path.relative(distDir, full).split(path.sep).join('/');
        files.set(relative, uiFile(relative, await readFile(full)));
      }
    }
  };
  await walk(distDir);
  if (!files.has('index.html')) throw new Error(`no index.html in ${distDir}: run npm run build:ui`);
  return { files };
}

/**
 * The site for this process: built from the sources when they are present (a checkout),
 * else read from `dist/` (the container image), once per process (cached). Rejects naming
 * both folders when neither is there.
 */
export function loadUiSite(
  options: { sourceDir?: string; distDir?: string } = {},
): Promise<UiSite & { origin: 'sources' | 'dist' }> {
  const key = `${options.sourceDir ?? UI_SOURCE_DIR}|${options.distDir ?? UI_DIST_DIR}`;
  let site = loadedSites.get(key);
  if (!site) {
    site = loadUncached(options);
    loadedSites.set(key, site);
    // A failed build is not remembered: the next start tries again.
    site.catch(() => loadedSites.delete(key));
  }
  return site;
}

/** One build per process and folder pair: every app created in a process (tests, bench) shares it. */
const loadedSites = new Map<string, Promise<UiSite & { origin: 'sources' | 'dist' }>>();

async function loadUncached(options: {
  sourceDir?: string;
  distDir?: string;
}): Promise<UiSite & { origin: 'sources' | 'dist' }> {
  const sourceDir = options.sourceDir ?? UI_SOURCE_DIR;
  const distDir = options.distDir ?? UI_DIST_DIR;
  if (existsSync(path.join(sourceDir, 'main.ts'))) return { ...(await buildUiSite(sourceDir)), origin: 'sources' };
  if (existsSync(path.join(distDir, 'index.html'))) return { ...(await readUiSite(distDir)), origin: 'dist' };
  throw new Error(`the results pages are missing: neither ${sourceDir}main.ts nor ${distDir}index.html exists`);
}

/** Writes the site (plain files; `.gz`/`.br` beside the hashed ones for static hosting that wants them). */
export async function writeUiSite(site: UiSite, outDir: string = UI_DIST_DIR): Promise<string[]> {
  await rm(outDir, { recursive: true, force: true });
  const written: string[] = [];
  for (const file of site.files.values()) {
    const target = path.join(outDir, file.path);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.body);
    written.push(target);
  }
  return written;
}

/** Bytes a first visit downloads, gzipped: the page, its script and its stylesheet. */
export function pageWeightGzipped(site: UiSite): number {
  let total = 0;
  for (const file of site.files.values()) if (/\.(html|js|css)$/.test(file.path)) total += file.gzip.length;
  return total;
}

async function main(): Promise<void> {
  const program = new Command()
    .name('npm run build:ui --')
    .option('--out-dir <dir>', 'output directory', UI_DIST_DIR)
    .parse(process.argv);
  const { outDir } = program.opts<{ outDir: string }>();
  const site = await buildUiSite();
  const written = await writeUiSite(site, outDir);
  const weight = pageWeightGzipped(site);
  process.stdout.write(
    `${written.map((file) => `wrote ${file}`).join('\n')}\npage weight ${(weight / 1024).toFixed(1)} KB gzipped ` +
      `(budget ${UI_PAGE_WEIGHT_BUDGET_BYTES / 1024} KB)\n`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`build:ui failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
