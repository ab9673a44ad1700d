// Builds the console into dist/: the page, one script, one stylesheet and the hash worker,
// each asset named by a hash of its content (the server caches them as immutable), no
// source maps, nothing fetched at run time. `node build.mjs` or `buildConsole(dir)`.
import { build } from 'esbuild';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

async function bundle(entry, outdir, define = {}) {
  const result = await build({
    entryPoints: [join(here, 'src', entry)], outdir, entryNames: '[name]-[hash]', bundle: true, minify: true,
    format: 'esm', target: ['chrome110', 'firefox115', 'safari16'], metafile: true, write: true, define, logLevel: 'warning',
    legalComments: 'none',
  });
  return Object.keys(result.metafile.outputs).map((p) => basename(p));
}

export async function buildConsole(outdir = join(here, 'dist')) {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const [worker] = await bundle('hash-worker.ts', outdir);
  const outputs = await bundle('main.ts', outdir, { HASH_WORKER_URL: JSON.stringify(worker) });
  const css = await bundle('style.css', outdir);
  const js = outputs.find((f) => f.endsWith('.js'));
  await writeFile(join(outdir, 'index.html'), `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OAS console</title>
<link rel="stylesheet" href="${css[0]}">
<link rel="icon" href="data:,">
<script type="module" src="${js}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<div id="app"></div>
<noscript>The OAS console needs JavaScript.</noscript>
</body>
</html>
`);
  return { outdir, files: [worker, js, css[0], 'index.html'] };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outdir, files } = await buildConsole();
  console.log(`console built in ${outdir}: ${files.join(', ')}`);
}
