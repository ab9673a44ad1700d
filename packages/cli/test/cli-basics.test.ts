// oascmd as a child process: help, usage errors, credentials (file, flags, environment),
// config, checksums and how server errors are reported.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { run as runInProcess } from '../src/cli.js';
import { ACCESS_ID, ACCESS_KEY, collect, json, officialIni, oneLine, startHarness, type Harness } from './helpers/cli.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MIB = 1024 * 1024;
let h: Harness;

before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

/** Every command name and alias of protocol.md §7.3, plus this tool's wait. */
const COMMANDS = ['ls', 'listvault', 'cv', 'createvault', 'rm', 'deletevault', 'getvaultdesc', 'upload', 'postarchive', 'deletearchive',
  'fileetag', 'partetag', 'createmupload', 'listmupload', 'postmpart', 'listmpart', 'completemupload', 'deletemupload', 'createjob',
  'cp', 'getjobdesc', 'fetch', 'fetchjoboutput', 'listjob', 'config', 'help', 'wait'];

async function inProcess(args: string[], options: { tty?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  // A terminal, as far as oascmd can tell: isTTY and a width (cli-progress writes its escape codes to it).
  const term = <T extends PassThrough>(stream: T): T => (options.tty ? Object.assign(stream, { isTTY: true, columns: 120 }) : stream);
  const stdout = term(new PassThrough());
  const stderr = term(new PassThrough());
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c));
  stderr.on('data', (c: Buffer) => (err += c));
  const code = await runInProcess(args, { signal: new AbortController().signal, env: { HOME: h.home }, stdin: new PassThrough(), stdout, stderr });
  return { code, stdout: out, stderr: err };
}

test('help lists every command and alias; every command has --help with examples', async () => {
  const r = await h.run(['help']);
  assert.equal(r.code, 0);
  for (const name of COMMANDS) assert.match(r.stdout, new RegExp(`(^|\\s|\\|)${name}(\\s|\\|)`), name);
  for (const name of COMMANDS.filter((c) => c !== 'help')) {
    const help = await inProcess([name, '--help']);
    assert.equal(help.code, 0, name);
    assert.match(help.stdout, /^Usage: oascmd /, name);
    assert.match(help.stdout, /\nExamples:\n {2}\$ oascmd /, name);
    assert.match(help.stdout, /--config-file/, `${name} shows the connection options`);
  }
  const viaHelp = await h.run(['help', 'upload']);
  assert.equal(viaHelp.code, 0);
  assert.match(viaHelp.stdout, /Usage: oascmd upload \[options\] <vault> <file> \[uploadid\]/);
  assert.match((await h.run(['--version'])).stdout, /^\d+\.\d+\.\d+\n$/);
});

test('npx oascmd works from the workspace root (the bin linked by the @oas/cli workspace package)', async () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const r = await collect(spawn('npx', ['--offline', 'oascmd', '--help'], { cwd: root, env: h.env(), stdio: ['pipe', 'pipe', 'pipe'] }));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: oascmd \[options\] \[command\]\n/);
  assert.match(r.stdout, /\nQuick start \(a local server[^)]*\):\n/);
  const v = await collect(spawn('npx', ['--offline', 'oascmd', 'fileetag', '--help'], { cwd: root, env: h.env(), stdio: ['pipe', 'pipe', 'pipe'] }));
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^Usage: oascmd fileetag \[options\] <local_file>\n[^]*\nExamples:\n/);
});

test('on a terminal: progress bars with percentage, amount, rate and ETA for upload, download and hashing, then a summary', async () => {
  await h.run(['cv', 'oas://bars']);
  const data = pattern(20 * MIB + 3, 2);
  const file = join(h.dir, 'bar.bin');
  await writeFile(file, data);
  const bar = (label: string) => new RegExp(`${label} \\[[\u2588\u2591]{30}\\] 100% \\| 20\\.0 MiB / 20\\.0 MiB \\| (-|[\\d.]+ [KMG]?i?B/s) \\| ETA \\S+`);

  const up = await inProcess(['upload', 'oas://bars', file, '--json'], { tty: true });
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stderr, bar('upload'));
  assert.match(up.stderr, /\nuploaded 20\.0 MiB in \d+\.\d s \([\d.]+ [KMG]iB\/s\)\n$/);
  const { ArchiveId } = JSON.parse(up.stdout) as { ArchiveId: string };

  const job = json<{ JobId: string }>(await h.run(['createjob', 'oas://bars', ArchiveId, '--json']));
  assert.equal((await h.run(['wait', 'oas://bars', job.JobId, '--interval', '0.05'])).code, 0);
  const down = await inProcess(['fetch', 'oas://bars', job.JobId, join(h.dir, 'bar.out')], { tty: true });
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stderr, bar('download'));
  assert.match(down.stderr, /\ndownloaded 20\.0 MiB in \d+\.\d s \([\d.]+ [KMG]iB\/s\)\n$/);
  assert.match(down.stdout, /Download job output success\n$/);

  const hashed = await inProcess(['fileetag', file], { tty: true });
  assert.equal(hashed.code, 0, hashed.stderr);
  assert.match(hashed.stderr, bar('hash'));
  assert.match(hashed.stderr, /\nhashed 20\.0 MiB in \d+\.\d s/);
  assert.match(hashed.stdout, /etag {5}: [0-9A-F]{32}\ntree_etag: [0-9A-F]{32}\n$/);

  // Not a terminal: no bar (plain lines, if any were due), the summary last; --quiet: not even that.
  const plain = await inProcess(['upload', 'oas://bars', file]);
  // ESC starts every terminal control sequence a bar would draw.
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(plain.stderr, /\x1b/);
  assert.match(plain.stderr, /(^|\n)uploaded 20\.0 MiB in \d+\.\d s \([\d.]+ [KMG]iB\/s\)\n$/);
  const quiet = await inProcess(['upload', 'oas://bars', file, '-q']);
  assert.equal(quiet.stderr, '');
  assert.match(quiet.stdout, /Archive ID: [0-9A-F]{32}\n$/);
});

test('usage errors: one line on stderr, exit 2, no stack trace', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['lss'], /unknown command 'lss'.*Did you mean ls\?/],
    [['ls', '--bogus'], /unknown option '--bogus'/],
    [['upload', 'oas://v'], /missing required argument 'file'/],
    [['cv', 'oas://a', 'extra'], /too many arguments/],
    [['cv', 'myvault'], /bad vault 'myvault': vaults are written oas:\/\/vault-name/],
    [['createmupload', 'oas://v', '12Q'], /bad part size '12Q'/],
    [['upload', 'oas://v', 'f', '-p', 'lots'], /bad part size 'lots'/],
    [['ls', '--limit', 'ten'], /bad --limit 'ten'/],
    [['partetag', 'f', 'x', '1'], /bad start 'x'/],
    [['createjob', 'oas://v', 'A', '--size', '1Y'], /bad --size '1Y'/],
    [['cp', 'oas://v', 'oas://w'], /cp copies oss:\/\/bucket\/object/],
    [['ls', '--port', 'eighty'], /bad port 'eighty'/],
    [['help', 'nope'], /unknown command 'nope'/],
  ];
  for (const [args, re] of cases) {
    const r = await h.run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(oneLine(r.stderr), `${args.join(' ')}: ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stdout, '');
  }
  const none = await h.run([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Usage: oascmd/);
});

test('usage errors with --json also print a JSON error on stdout', async () => {
  const r = await h.run(['ls', '--json', '--limit', '0']);
  assert.equal(r.code, 2);
  assert.deepEqual(json(r), { error: { code: 'UsageError', message: "bad --limit '0': expected an integer >= 1", exitCode: 2 } });
});

test('no credentials anywhere: exit 2 and a hint to run config', async () => {
  const r = await h.run(['ls'], { env: { HOME: join(h.dir, 'empty-home') } });
  assert.equal(r.code, 2);
  assert.ok(oneLine(r.stderr));
  assert.match(r.stderr, /no access key id and secret.*oascmd config/);
});

test('server errors: exit 1 with the code, the HTTP status and the request id', async () => {
  await h.run(['cv', 'oas://errors']);
  const r = await h.run(['getjobdesc', 'oas://errors', 'NOSUCHJOB']);
  assert.equal(r.code, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /^oascmd: JobNotExist: .+ \(HTTP 404, request id [0-9A-F]{32}\)\n$/);
  const j = await h.run(['getjobdesc', 'oas://errors', 'NOSUCHJOB', '--json']);
  assert.equal(j.code, 1);
  const e = json<{ error: Record<string, unknown> }>(j).error;
  assert.equal(e.code, 'JobNotExist');
  assert.equal(e.status, 404);
  assert.match(String(e.requestId), /^[0-9A-F]{32}$/);
  const denied = await h.run(['ls', '-k', 'wrong-secret']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /^oascmd: SignatureDoesNotMatch: .+ \(HTTP 403, request id [0-9A-F]{32}\)\n$/);
  const missing = await h.run(['getvaultdesc', 'oas://no-such-vault']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, "oascmd: vault 'no-such-vault' not found\n");
});

test('network errors: exit 1, one line', async () => {
  const r = await h.run(['ls', '--host', '127.0.0.1', '--port', '1']);
  assert.equal(r.code, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(r.stderr, /ECONNREFUSED/);
});

test('config writes the official file (mode 0600), refuses to overwrite without -f, and it is read back', async () => {
  const file = join(h.dir, 'written.ini');
  const r = await h.run(['config', '--host', '127.0.0.1', '-p', String(h.server.port), '-i', ACCESS_ID, '-k', ACCESS_KEY, '--config-file', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Your configuration is saved to ${file}.\n`);
  assert.equal(await readFile(file, 'utf8'), officialIni('127.0.0.1', h.server.port));
  assert.equal((await stat(file)).mode & 0o777, 0o600);

  const again = await h.run(['config', '--host', 'other', '-i', 'x', '-k', 'y', '--config-file', file]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /exists: pass -f to overwrite it/);
  assert.equal(await readFile(file, 'utf8'), officialIni('127.0.0.1', h.server.port));

  const ls = await h.run(['ls', '--config-file', file], { env: { HOME: join(h.dir, 'empty-home') } });
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^Marker: /);

  const forced = await h.run(['config', '--host', `127.0.0.1:${h.server.port}`, '-i', ACCESS_ID, '-k', ACCESS_KEY, '--config-file', file, '-f', '--json']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(json(forced), { ConfigFile: file, Host: '127.0.0.1', Port: h.server.port });

  const incomplete = await h.run(['config', '-i', 'x']);
  assert.equal(incomplete.code, 2);
  assert.match(incomplete.stderr, /config needs --host, -k\/--key/);
});

test('a hand-written official-format file with comments works from ~/.oascredentials', async () => {
  const home = join(h.dir, 'official-home');
  await (await import('node:fs/promises')).mkdir(home);
  await writeFile(join(home, '.oascredentials'),
    `# written by the official oascmd\n[OASCredentials]\nhost = 127.0.0.1\nport = ${h.server.port}\naccessid = ${ACCESS_ID}\n`
    + `accesskey = ${ACCESS_KEY}\nosshost = oss-cn-hangzhou.aliyuncs.com ; for cp\n`);
  const r = await h.run(['ls', '--json'], { env: { HOME: home } });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Array.isArray(json<{ VaultList: unknown[] }>(r).VaultList));
});

test('environment variables: OAS_CONFIG_FILE, OAS_HOST/PORT/ACCESS_KEY_*; flags win over them', async () => {
  const empty = join(h.dir, 'empty-home');
  const viaFile = await h.run(['ls'], { env: { HOME: empty, OAS_CONFIG_FILE: h.configFile } });
  assert.equal(viaFile.code, 0, viaFile.stderr);

  const vars = { HOME: empty, OAS_HOST: '127.0.0.1', OAS_PORT: String(h.server.port), OAS_ACCESS_KEY_ID: ACCESS_ID, OAS_ACCESS_KEY_SECRET: ACCESS_KEY };
  const viaEnv = await h.run(['ls'], { env: vars });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);

  // A wrong secret in the environment is overridden by -k; a wrong -k beats a right environment.
  const fixed = await h.run(['ls', '-k', ACCESS_KEY], { env: { ...vars, OAS_ACCESS_KEY_SECRET: 'wrong' } });
  assert.equal(fixed.code, 0, fixed.stderr);
  const broken = await h.run(['ls', '--key', 'wrong'], { env: vars });
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /SignatureDoesNotMatch/);

  // The environment beats the file: a wrong port in OAS_PORT fails although the file is right.
  const envOverFile = await h.run(['ls'], { env: { OAS_PORT: '1' } });
  assert.equal(envOverFile.code, 1);
  assert.match(envOverFile.stderr, /ECONNREFUSED/);
  // And flags beat the environment.
  const flagOverEnv = await h.run(['ls', '--port', String(h.server.port)], { env: { OAS_PORT: '1' } });
  assert.equal(flagOverEnv.code, 0, flagOverEnv.stderr);
});

test('fileetag prints the official two lines; protocol.md §3.3 vectors', async () => {
  const vectors: Array<[number, string, string]> = [
    [3 * MIB + 5, '028BFCC1395093C0DF0DC731DE96E1B5', '2B016A0FD13C7CBC62DE133A913C2E6B'],
    [MIB + 1, '79B67C7FBF43B76E5B7F182328BDC4B6', '2DD050B18D8A52C275D3E6DAC425D44B'],
    [5 * MIB, '4C28640DC8DF1933AAEA192100D50AE0', 'DC4530AD763DB8493C5BD3A6A2650CA3'],
    [1000, 'A24F1E3EF66950E1327F210E3997BA2C', 'A24F1E3EF66950E1327F210E3997BA2C'],
  ];
  for (const [size, etag, tree] of vectors) {
    const file = join(h.dir, `pattern-${size}`);
    await writeFile(file, pattern(size));
    const r = await h.run(['fileetag', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `etag     : ${etag}\ntree_etag: ${tree}\n`);
  }
  const j = await h.run(['fileetag', join(h.dir, `pattern-${3 * MIB + 5}`), '--json']);
  assert.deepEqual(json(j), { ContentEtag: '028BFCC1395093C0DF0DC731DE96E1B5', TreeEtag: '2B016A0FD13C7CBC62DE133A913C2E6B', Size: 3 * MIB + 5 });
  const missing = await h.run(['fileetag', join(h.dir, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^oascmd: file '.*nope' does not exist\n$/);
});

test('partetag: an end that is an exact MiB multiple is exclusive (official quirk)', async () => {
  const file = join(h.dir, 'pattern-part');
  await writeFile(file, pattern(3 * MIB + 5));
  const expect = async (args: string[], etag: string, tree: string): Promise<void> => {
    const r = await h.run(['partetag', file, ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `etag     : ${etag}\ntree_etag: ${tree}\n`, args.join(' '));
  };
  // 0..1M is the first MiB (leaf L0), 1M..2M the second (L1); 0..2M the 2 MiB vector.
  await expect(['0', '1M'], '8F293A2F6C19B345152F7A49BB4C643C', '8F293A2F6C19B345152F7A49BB4C643C');
  await expect(['0', '1048575'], '8F293A2F6C19B345152F7A49BB4C643C', '8F293A2F6C19B345152F7A49BB4C643C');
  await expect(['1M', '2M'], 'B66F7BDA0D9B13D834B1B87EDE0A33BB', 'B66F7BDA0D9B13D834B1B87EDE0A33BB');
  await expect(['0', '2097152'], '22B5D52B7D06E1B2B44F0FE3162E90E2', '063515434B8FC89318BC40C066B88DB2');
  await expect(['3M', String(3 * MIB + 4)], 'BE9F131A4041136A935BB2D2D7B923EE', 'BE9F131A4041136A935BB2D2D7B923EE');
  const j = await h.run(['partetag', file, '0', '1M', '--json']);
  assert.deepEqual(json(j), { ContentEtag: '8F293A2F6C19B345152F7A49BB4C643C', TreeEtag: '8F293A2F6C19B345152F7A49BB4C643C', Size: MIB, Start: 0, End: MIB - 1 });
  const beyond = await h.run(['partetag', file, '0', '4M']);
  assert.equal(beyond.code, 2);
  assert.match(beyond.stderr, /the file has only 3145733 bytes/);
});
