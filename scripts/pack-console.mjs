// Run by @oas/server's prepack: builds the web console and copies its static files into the
// server package (packages/server/console/), so an installed oas-server serves /console/.
import { cp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const consoleDir = new URL('../packages/console/', import.meta.url);
const target = fileURLToPath(new URL('../packages/server/console/', import.meta.url));
const { buildConsole } = await import(new URL('build.mjs', consoleDir).href);
await buildConsole();
await rm(target, { recursive: true, force: true });
await cp(fileURLToPath(new URL('dist/', consoleDir)), target, { recursive: true });
