// The oas-server command: `oas-server [serve] [options]` runs the server,
// `oas-server keys create|list|delete` manages access keys (one key pair per account).
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createServer, type OasServer } from './app.js';
import { ConfigError, DEFAULT_OPTIONS, helpText, parseServeArgs } from './config.js';
import { ROOT_ACCOUNT_ID, createAccount } from './service/accounts.js';
import { openSqliteStore } from './store/meta/sqlite.js';

class UsageError extends Error {}

function fail(message: string, code: number): never {
  process.stderr.write(`oas-server: ${message}\n`);
  process.exit(code);
}

async function keysCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
  const [action, ...rest] = parsed.positionals;
  if (parsed.values.help || !action) {
    process.stdout.write('Usage: oas-server keys create|list|delete <AccessKeyId> [--data-dir <dir>]\n');
    return parsed.values.help ? 0 : 2;
  }
  const dataDir = parsed.values['data-dir'] ?? (process.env.OAS_DATA_DIR || DEFAULT_OPTIONS.dataDir);
  if (!['create', 'list', 'delete'].includes(action)) throw new UsageError(`unknown keys command "${action}" (create, list or delete)`);
  if (action === 'delete' && rest.length !== 1) throw new UsageError('keys delete takes one AccessKeyId');
  if (action !== 'delete' && rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (action === 'create') await mkdir(dataDir, { recursive: true });
  else if (!(await stat(join(dataDir, 'meta.sqlite')).catch(() => null))) throw new UsageError(`no server data in ${resolve(dataDir)}`);
  const meta = await openSqliteStore(join(dataDir, 'meta.sqlite'));
  try {
    if (action === 'create') {
      const account = await createAccount(meta);
      process.stdout.write(`AccessKeyId: ${account.accessKeyId}\nAccessKeySecret: ${account.accessKeySecret}\n`);
    } else if (action === 'list') {
      for (const a of await meta.listAccounts()) {
        process.stdout.write(`${a.accessKeyId}\t${a.id === ROOT_ACCOUNT_ID ? 'root' : a.id}\t${new Date(a.createdAt).toISOString()}\n`);
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
    fail(e.code === 'EADDRINUSE' ? `${options.host}:${options.port} is already in use` : `cannot start: ${e.message}`, 1);
  }
  const hintHost = ['0.0.0.0', '::'].includes(server.host) ? '127.0.0.1' : server.host;
  if (server.rootKey.kind === 'generated') {
    const { accessKeyId, accessKeySecret } = server.rootKey.account;
    process.stdout.write(
      `Generated the root access key (stored in ${resolve(options.dataDir)}; shown only this once):\n` +
      `  AccessKeyId:     ${accessKeyId}\n  AccessKeySecret: ${accessKeySecret}\n` +
      `Use it with: oascmd config --host ${hintHost} --port ${server.port} -i ${accessKeyId} -k ${accessKeySecret}\n`);
  }
  server.app.log.info({ url: server.url, dataDir: resolve(options.dataDir), cleanup: server.cleanup }, 'oas-server listening');
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
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  try {
    if (first === 'keys') process.exit(await keysCommand(rest));
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
