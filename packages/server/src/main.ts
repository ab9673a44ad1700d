// The oas-server command: `oas-server [serve] [options]` runs the server,
// `oas-server keys create|list|delete|rotate` manages access keys (one key pair per account),
// `oas-server migrate` applies the metadata schema migrations, `oas-server copy-data` moves
// everything to another backend pair (copy-data.ts), `oas-server scrub` checks stored
// archives now (scrub/command.ts), `oas-server backfill` adds SHA-256 leaves to archives
// stored before they existed (backfill/command.ts).
import { readFileSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createServer, type OasServer } from './app.js';
import { ConfigError, DEFAULT_OPTIONS, helpText, parseServeArgs } from './config.js';
import { copyDataCommand } from './copy-data.js';
import { scrubCommand } from './scrub/command.js';
import { backfillCommand } from './backfill/command.js';
import { ROOT_ACCOUNT_ID, createAccount, rotateKey } from './service/accounts.js';
import { awsAccountIdOf } from './util/aws-identity.js';
import { describeMetadata, migrateMetadata, openMetadata, parseMetadataUri } from './store/open.js';

class UsageError extends Error {}

/** This package's version (package.json is one level above both src/ and dist/). */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function fail(message: string, code: number): never {
  process.stderr.write(`oas-server: ${message}\n`);
  process.exit(code);
}

async function keysCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { 'data-dir': { type: 'string' }, metadata: { type: 'string' }, aws: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
  const [action, ...rest] = parsed.positionals;
  if (parsed.values.help || !action) {
    process.stdout.write('Usage: oas-server keys create [--aws] | list | delete <AccessKeyId> | rotate <AccessKeyId> [--data-dir <dir>] [--metadata <uri>]\n\n'
      + 'create --aws makes an AWS-shaped key (AKIA and 16 characters of A-Z 2-7), for tools that check the shape.\n'
      + 'rotate gives the key a new secret (printed once; the AccessKeyId stays) and the old secret stops working.\n');
    return parsed.values.help ? 0 : 2;
  }
  const dataDir = parsed.values['data-dir'] ?? (process.env.OAS_DATA_DIR || DEFAULT_OPTIONS.dataDir);
  if (!['create', 'list', 'delete', 'rotate'].includes(action)) throw new UsageError(`unknown keys command "${action}" (create, list, delete or rotate)`);
  const takesKey = action === 'delete' || action === 'rotate';
  if (takesKey && rest.length !== 1) throw new UsageError(`keys ${action} takes one AccessKeyId`);
  if (!takesKey && rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (parsed.values.aws && action !== 'create') throw new UsageError('--aws goes with keys create only');
  const metadataUri = parsed.values.metadata ?? (process.env.OAS_METADATA || undefined);
  const spec = parseMetadataUri(metadataUri, { dataDir, pgPoolSize: 1 });
  if (spec.kind === 'sqlite') {
    if (action === 'create') await mkdir(dataDir, { recursive: true });
    else if (!(await stat(spec.path).catch(() => null))) {
      throw new UsageError(metadataUri === undefined ? `no server data in ${resolve(dataDir)}` : `no metadata file ${spec.path}`);
    }
  }
  const meta = await openMetadata(spec);
  try {
    if (action === 'create') {
      const account = await createAccount(meta, Date.now(), parsed.values.aws ? 'aws' : 'oas');
      process.stdout.write(`AccessKeyId: ${account.accessKeyId}\nAccessKeySecret: ${account.accessKeySecret}\n`);
    } else if (action === 'list') {
      for (const a of await meta.listAccounts()) {
        process.stdout.write(`${a.accessKeyId}\t${a.id === ROOT_ACCOUNT_ID ? 'root' : a.id}\t${awsAccountIdOf(a.id)}\t${new Date(a.createdAt).toISOString()}\n`);
      }
    } else if (action === 'rotate') {
      const account = await rotateKey(meta, rest[0]!);
      if (!account) {
        process.stderr.write(`oas-server: no key ${rest[0]}\n`);
        return 1;
      }
      process.stdout.write(`AccessKeyId: ${account.accessKeyId}\nAccessKeySecret: ${account.accessKeySecret}\n`);
      if (account.id === ROOT_ACCOUNT_ID) {
        process.stderr.write('oas-server: this is the root key: servers started with OAS_ROOT_ACCESS_KEY_ID/SECRET put the environment\'s secret back when they start; rotate it there instead\n');
      }
    } else {
      if (!(await meta.deleteAccountByKeyId(rest[0]!))) {
        process.stderr.write(`oas-server: no key ${rest[0]}\n`);
        return 1;
      }
      process.stdout.write(`deleted ${rest[0]}\n`);
    }
  } finally {
    await meta.close();
  }
  return 0;
}

async function migrateCommand(args: string[]): Promise<number> {
  const { help, options } = parseServeArgs(args, process.env);
  if (help) {
    process.stdout.write('Usage: oas-server migrate [--metadata <uri> | --data-dir <dir>]\n\n'
      + 'Applies the metadata schema migrations (the server also applies them on start; nodes\n'
      + 'starting at once are safe) and exits. The metadata URI also comes from OAS_METADATA.\n');
    return 0;
  }
  const spec = parseMetadataUri(options.metadataUri, options);
  const version = await migrateMetadata(spec);
  process.stdout.write(`${describeMetadata(spec)}: schema version ${version}\n`);
  return 0;
}

async function serveCommand(args: string[]): Promise<void> {
  const { help, options } = parseServeArgs(args, process.env);
  if (help) {
    process.stdout.write(helpText());
    return;
  }
  let server: OasServer;
  try {
    server = await createServer(options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.name === 'OssConfigError' || err instanceof ConfigError) fail(e.message, 2);
    fail(e.code === 'EADDRINUSE' ? `${options.host}:${options.port} is already in use` : `cannot start: ${e.message}`, 1);
  }
  const hintHost = ['0.0.0.0', '::'].includes(server.host) ? '127.0.0.1' : server.host;
  if (server.rootKey.kind === 'generated') {
    const { accessKeyId, accessKeySecret } = server.rootKey.account;
    process.stdout.write(
      `Generated the root access key (stored in ${server.backends.metadata}; shown only this once):\n` +
      `  AccessKeyId:     ${accessKeyId}\n  AccessKeySecret: ${accessKeySecret}\n` +
      `Use it with: npx oascmd config --host ${server.url.startsWith('https') ? 'https://' : ''}${hintHost} --port ${server.port} -i ${accessKeyId} -k ${accessKeySecret}\n` +
      (options.console ? `or sign in to the web console at ${server.url.startsWith('https') ? 'https' : 'http'}://${hintHost.includes(':') ? `[${hintHost}]` : hintHost}:${server.port}/console/\n` : ''));
  }
  server.app.log.info({ url: server.url, console: options.console ? `${server.url}/console/` : null, dataDir: resolve(options.dataDir), metadata: server.backends.metadata, blobs: server.backends.blobs, cleanup: server.cleanup }, 'oas-server listening');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'shutting down');
    server.close().then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`oas-server: shutdown failed: ${(err as Error).message}\n`);
      process.exit(1);
    });
  };
  if (options.tlsCert !== undefined) {
    // A renewed certificate is picked up without a restart; open connections are kept.
    process.on('SIGHUP', () => {
      server.reloadTls().then(() => server.app.log.info({ cert: options.tlsCert }, 'TLS certificate reloaded'),
        (err: unknown) => server.app.log.error({ err }, `TLS certificate not reloaded (the old one stays): ${(err as Error).message}`));
    });
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  try {
    if (first === 'keys') process.exit(await keysCommand(rest));
    if (first === 'migrate') process.exit(await migrateCommand(rest));
    if (first === 'scrub') process.exit(await scrubCommand(rest, process.env, (line) => process.stdout.write(`${line.replace(/\n$/, '')}\n`)));
    if (first === 'backfill') process.exit(await backfillCommand(rest, process.env, (line) => process.stdout.write(`${line.replace(/\n$/, '')}\n`)));
    if (first === 'copy-data') process.exit(await copyDataCommand(rest, process.env, (line) => process.stdout.write(`${line.replace(/\n$/, '')}\n`)));
    if (first === '--version' || first === '-V') {
      process.stdout.write(`${version()}\n`);
      return;
    }
    if (first === 'help') {
      process.stdout.write(helpText());
      return;
    }
    await serveCommand(first === 'serve' ? rest : argv);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) fail(err.message, 2);
    fail((err as Error).message, 1);
  }
}

void main(process.argv.slice(2));
