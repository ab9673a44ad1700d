// `oas-server copy-data --from <metadata,blobs> --to <metadata,blobs>`: the command line of
// the copier (copy/copier.ts), which moves everything one backend pair holds to another.
import { parseArgs } from 'node:util';
import { MIB } from '@oas/sdk';
import { ConfigError, OPTION_SPECS, resolveOptions } from './config.js';
import { copyData, type StorePair } from './copy/copier.js';
import {
  describeBlobs, describeMetadata, openBlobs, openMetadata, parseBlobsUri, parseMetadataUri,
  type BlobsSpec, type MetadataSpec,
} from './store/open.js';

export interface BackendPair {
  metadata: MetadataSpec;
  blobs: BlobsSpec;
}

/**
 * One side of copy-data: `<metadata-uri>,<blobs-uri>` (e.g. `sqlite:./data/meta.sqlite,file:./data/blobs`
 * or `postgres://oas@db/oas,s3://archive`), or a bare data directory meaning the embedded
 * default pair inside it.
 */
export function parseBackendPair(text: string, opts: ReturnType<typeof resolveOptions>): BackendPair {
  const m = /^(.*),((?:file:|s3:\/\/).*)$/i.exec(text);
  if (m) return { metadata: parseMetadataUri(m[1]!, opts), blobs: parseBlobsUri(m[2]!, opts) };
  if (/^[a-z][a-z0-9+.-]*:/i.test(text) && !/^[a-z]:[\\/]/i.test(text)) {
    throw new ConfigError(`invalid backend pair ${JSON.stringify(text)} (expected <metadata-uri>,<blobs-uri> or a data directory)`);
  }
  if (text === '') throw new ConfigError('empty backend pair');
  const dirOpts = { ...opts, dataDir: text };
  return { metadata: parseMetadataUri(undefined, dirOpts), blobs: parseBlobsUri(undefined, dirOpts) };
}

export const COPY_DATA_HELP = `Usage: oas-server copy-data --from <metadata,blobs> --to <metadata,blobs> [options]

Copies everything (access keys, vaults, archives, open multipart uploads, unexpired jobs and
their outputs) from one backend pair to another, verifying every blob's 1 MiB checksums and
every archive's tree etag as the bytes arrive. Run it again after an interruption: what is
already in the target is skipped. Stop the servers of both sides first.

A backend pair is <metadata-uri>,<blobs-uri>, e.g.
  sqlite:/srv/oas/meta.sqlite,file:/srv/oas/blobs
  postgres://oas:secret@db.internal:5432/oas,s3://oas-archive/prod
or a data directory (the embedded default pair inside it).

Options:
  --from <pair>            source
  --to <pair>              target
  --parallel <n>           archives copied at the same time (default 4)
  --pg-pool-size, --s3-endpoint, --s3-region, --s3-access-key-id, --s3-secret-access-key,
  --s3-force-path-style    as for the server, applied to any side that uses them (and their
                           OAS_* / AWS_* environment variables); an s3:// URI may override
                           endpoint, region and path-style with ?endpoint=...&region=...&path-style=true
  -h, --help               show this help
`;

const BACKEND_FLAGS = ['pg-pool-size', 's3-endpoint', 's3-region', 's3-access-key-id', 's3-secret-access-key', 's3-force-path-style'];

/** `oas-server copy-data ...`; returns the exit code (ConfigError for bad usage). */
export async function copyDataCommand(args: string[], env: NodeJS.ProcessEnv, out: (line: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args, strict: true, allowPositionals: false,
      options: {
        from: { type: 'string' }, to: { type: 'string' }, parallel: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(BACKEND_FLAGS.map((f) => [f, { type: f === 's3-force-path-style' ? 'boolean' as const : 'string' as const }])),
      },
    });
  } catch (err) {
    throw new ConfigError((err as Error).message.split('\n')[0]!);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) {
    out(COPY_DATA_HELP);
    return 0;
  }
  if (typeof v.from !== 'string' || typeof v.to !== 'string') throw new ConfigError('copy-data needs --from and --to (see oas-server copy-data --help)');
  const parallel = v.parallel === undefined ? 4 : Number(v.parallel);
  if (!Number.isSafeInteger(parallel) || parallel < 1 || parallel > 64) throw new ConfigError(`invalid --parallel ${JSON.stringify(v.parallel)} (1-64)`);
  const flags: Record<string, string | undefined> = {};
  for (const spec of OPTION_SPECS) {
    if (!BACKEND_FLAGS.includes(spec.flag)) continue;
    const value = v[spec.flag];
    flags[spec.flag] = value === true ? 'true' : value as string | undefined;
  }
  const opts = resolveOptions(flags, env);
  const from = parseBackendPair(v.from, opts);
  const to = parseBackendPair(v.to, opts);
  const fromText = `${describeMetadata(from.metadata)} + ${describeBlobs(from.blobs)}`;
  const toText = `${describeMetadata(to.metadata)} + ${describeBlobs(to.blobs)}`;
  if (describeMetadata(from.metadata) === describeMetadata(to.metadata) || describeBlobs(from.blobs) === describeBlobs(to.blobs)) {
    throw new ConfigError(`--from and --to share a store (${fromText} -> ${toText})`);
  }
  out(`copying ${fromText} -> ${toText}`);
  const opened: StorePair[] = [];
  try {
    for (const side of [from, to]) {
      const meta = await openMetadata(side.metadata);
      try {
        opened.push({ meta, blobs: await openBlobs(side.blobs) });
      } catch (err) {
        await meta.close();
        throw err;
      }
    }
    const started = Date.now();
    const report = await copyData({ from: opened[0]!, to: opened[1]!, parallel, log: out });
    const secs = (Date.now() - started) / 1000;
    const r = report;
    out(`done in ${secs.toFixed(1)} s: ${r.accounts.copied} keys, ${r.vaults.copied} vaults, ${r.archives.copied} archives, `
      + `${r.uploads.copied} uploads (${r.parts.copied} parts), ${r.jobs.copied} jobs copied (${(r.bytes / MIB).toFixed(1)} MiB), `
      + `${r.settings} tags and settings set; `
      + `already there: ${r.accounts.skipped} keys, ${r.vaults.skipped} vaults, ${r.archives.skipped} archives, `
      + `${r.uploads.skipped} uploads, ${r.parts.skipped} parts, ${r.jobs.skipped} jobs`);
    if (r.errors.length > 0) {
      out(`${r.errors.length} items could not be copied (see the errors above); fix the cause and run copy-data again`);
      return 1;
    }
    return 0;
  } finally {
    for (const side of opened) {
      await side.meta.close().catch(() => undefined);
      await side.blobs.close().catch(() => undefined);
    }
  }
}
