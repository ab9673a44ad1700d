// The oas-server command line: --help, option errors, keys, serve and signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OPTION_SPECS } from '../src/config.js';
import { runCli, spawnCli } from './helpers/cli.js';
import { tempDir } from './helpers/server.js';
import { Client } from './helpers/client.js';
import { eventually, listFiles } from './helpers/assert.js';

test('--help lists every option with its default and environment variable', async () => {
  const out = await runCli(['--help']);
  assert.equal(out.code, 0, out.stderr);
  for (const spec of OPTION_SPECS) {
    assert.match(out.stdout, new RegExp(`--${spec.flag}\\b.*${spec.env}`));
  }
  assert.match(out.stdout, /--data-dir.*default \.\/data/);
  assert.match(out.stdout, /--port.*default 8080/);
  assert.match(out.stdout, /--job-output-ttl.*default 24h/);
  assert.match(out.stdout, /--inventory-interval.*default unset/);
  assert.match(out.stdout, /--min-free <size\|%>.*default 64M, env OAS_MIN_FREE/);
  assert.match(out.stdout, /keys create\|list\|delete/);
  // The --oss-host example signs for the same region docs/oss.md gives Aliyun OSS.
  assert.match(out.stdout, /--oss-host '.*\?region=oss-cn-hangzhou'/);
  assert.equal((await runCli(['serve', '-h'])).code, 0);
});

test('--version and -V print the package version and exit 0', async () => {
  const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const out = await runCli([flag]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `${version}\n`);
  }
});

test('bad options: one line on stderr, exit code 2', async () => {
  for (const [args, env] of [
    [['--port', 'abc'], {}], [['--port', '70000'], {}], [['--job-delay', '5x'], {}], [['--max-vaults', '0'], {}],
    [['--log-level', 'loud'], {}], [['--no-such-option'], {}], [['serve', 'extra'], {}], [[], { OAS_PORT: 'nope' }],
    [[], { OAS_ROOT_ACCESS_KEY_ID: 'only-the-id' }], [['keys', 'frobnicate'], {}], [['keys', 'delete'], {}],
    [['--min-free', 'lots'], {}], [[], { OAS_MIN_FREE: '100%' }],
  ] as Array<[string[], NodeJS.ProcessEnv]>) {
    const out = await runCli(args, env);
    assert.equal(out.code, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${out.stdout} ${out.stderr}`);
    assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
    assert.match(out.stderr, /^oas-server: /);
  }
});

test('keys create, list and delete', async () => {
  const dataDir = await tempDir();
  try {
    const a = await runCli(['keys', 'create', '--data-dir', dataDir]);
    assert.equal(a.code, 0, a.stderr);
    const id = /^AccessKeyId: (\S+)$/m.exec(a.stdout)![1]!;
    assert.match(a.stdout, /^AccessKeySecret: \S{20,}$/m);
    const b = await runCli(['keys', 'create'], { OAS_DATA_DIR: dataDir });
    const id2 = /^AccessKeyId: (\S+)$/m.exec(b.stdout)![1]!;
    assert.notEqual(id, id2);
    const list = await runCli(['keys', 'list', '--data-dir', dataDir]);
    assert.equal(list.code, 0);
    assert.match(list.stdout, new RegExp(`^${id}\\t`, 'm'));
    assert.match(list.stdout, new RegExp(`^${id2}\\t`, 'm'));
    // The 12-digit account id the Glacier front end shows in paths and ARNs.
    assert.match(list.stdout, new RegExp(`^${id}\\t[0-9A-F]{32}\\t\\d{12}\\t`, 'm'));
    assert.doesNotMatch(list.stdout, /Secret/i);
    assert.equal((await runCli(['keys', 'delete', id, '--data-dir', dataDir])).code, 0);
    const missing = await runCli(['keys', 'delete', id, '--data-dir', dataDir]);
    assert.equal(missing.code, 1);
    assert.doesNotMatch((await runCli(['keys', 'list', '--data-dir', dataDir])).stdout, new RegExp(id));
    assert.equal((await runCli(['keys', 'list', '--data-dir', join(dataDir, 'nothing-here')])).code, 2);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

const children: ChildProcess[] = [];

test('serve: first start prints a generated key with an oascmd hint; SIGTERM exits 0 and leaves no temp files', async () => {
  const dataDir = await tempDir();
  try {
    const child = spawnCli(['serve', '--port', '0', '--data-dir', dataDir, '--shutdown-grace', '2s']);
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /"url":"(http:\/\/[^"]+)"/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      child.on('close', () => reject(new Error(`server exited: ${stdout} ${stderr}`)));
    });
    const id = /AccessKeyId:\s+(\S+)/.exec(stdout)![1]!;
    const secret = /AccessKeySecret:\s+(\S+)/.exec(stdout)![1]!;
    const port = Number(new URL(url).port);
    assert.match(stdout, new RegExp(`npx oascmd config --host 127\\.0\\.0\\.1 --port ${port} -i ${id} -k ${secret}`));
    const c = new Client(port, id, secret);
    assert.equal((await c.createVault('from-cli')).status, 201);
    // One structured log line per request, with id, operation, status, bytes and duration
    // (logs are buffered and flushed every 250 ms).
    const findLine = () => stdout.split('\n').find((l) => l.includes('"operation":"CreateVault"'));
    await eventually(async () => findLine() !== undefined);
    const line = findLine()!;
    const entry = JSON.parse(line);
    assert.equal(entry.status, 201);
    assert.match(entry.requestId, /^[0-9A-F]{32}$/);
    assert.equal(typeof entry.durationMs, 'number');
    assert.equal(typeof entry.bytesIn, 'number');
    assert.equal(typeof entry.bytesOut, 'number');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.deepEqual(await listFiles(join(dataDir, 'blobs', 'tmp')), []);
    // A second start does not print a key again.
    const again = spawnCli(['--port', '0', '--data-dir', dataDir]);
    children.push(again);
    let out2 = '';
    await new Promise<void>((resolve) => again.stdout!.on('data', (d: Buffer) => {
      out2 += d.toString();
      if (out2.includes('"url"')) resolve();
    }));
    again.kill('SIGINT');
    assert.equal(await new Promise((r) => again.on('close', r)), 0);
    assert.doesNotMatch(out2, /AccessKeySecret/);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});
