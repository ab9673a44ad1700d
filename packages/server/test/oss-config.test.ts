// OSS host configuration: the --oss-host spec, the --oss-config file, the environment, the
// errors a bad configuration gives, and oas-server itself pulling through a host given on
// its command line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { treeEtag } from '@oas/sdk';
import { ConfigError, helpText, parseServeArgs } from '../src/config.js';
import { OSS_HOST_DEFAULTS, OssConfigError, loadOssHosts, parseOssConfig, parseOssHostSpec } from '../src/oss-config.js';
import { createServer } from '../src/app.js';
import { tempDir } from './helpers/server.js';
import { Client } from './helpers/client.js';
import { runCli, spawnCli } from './helpers/cli.js';
import { startS3rver, type S3TestServer } from './helpers/s3rver.js';
import { testS3Client } from './helpers/s3-client.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';

const MIB = 1024 * 1024;
let dir: string;
before(async () => { dir = await tempDir('oas-oss-config-'); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

test('--oss-host spec: NAME=URL with credentials as user info and settings as query parameters', () => {
  const h = parseOssHostSpec('oss-cn-hangzhou.aliyuncs.com=https://AK%2Fid:s%40cret@oss-cn-hangzhou.aliyuncs.com?region=cn-hangzhou&partSize=134217728&verifyEtag=false');
  assert.deepEqual(h, {
    ...OSS_HOST_DEFAULTS,
    name: 'oss-cn-hangzhou.aliyuncs.com', endpoint: 'https://oss-cn-hangzhou.aliyuncs.com', region: 'cn-hangzhou',
    accessKeyId: 'AK/id', secretAccessKey: 's@cret', addressing: 'virtual', partSize: 128 * MIB, verifyEtag: false,
  });
  const local = parseOssHostSpec('minio.local:9000=http://k:s@127.0.0.1:9000?addressing=path&concurrency=8&maxAttempts=2');
  assert.equal(local.endpoint, 'http://127.0.0.1:9000');
  assert.equal(local.addressing, 'path');
  assert.equal(local.concurrency, 8);
  assert.equal(local.maxAttempts, 2);
  const bad: [string, RegExp][] = [
    ['no-equals-sign', /expected NAME=URL/],
    ['h=notaurl', /not a URL/],
    ['h=ftp://k:s@host', /http:\/\/ or https:\/\//],
    ['h=http://host', /accessKeyId is required/],
    ['h=http://k:s@host/path', /must not have a path/],
    ['h=http://k:s@host?bogus=1', /unknown setting "bogus"/],
    ['h=http://k:s@host?addressing=sideways', /addressing must be "path" or "virtual"/],
    ['h=http://k:s@host?partSize=1000', /partSize must be a whole number from 5242880/],
    ['h=http://k:s@host?partSize=5242881', /multiple of 1 MiB/],
    ['bad name!=http://k:s@host', /must be a host name/],
  ];
  for (const [spec, message] of bad) assert.throws(() => parseOssHostSpec(spec), (e: Error) => e instanceof OssConfigError && message.test(e.message), spec);
  // The secret never appears in an error message.
  assert.throws(() => parseOssHostSpec('=http://k:topsecret@host'), (e: Error) => !e.message.includes('topsecret'));
});

test('--oss-config file: {"hosts": {...}}, defaults filled in, mistakes named', async () => {
  const file = join(dir, 'oss.json');
  await writeFile(file, JSON.stringify({ hosts: {
    'oss-cn-beijing.aliyuncs.com': { endpoint: 'https://oss-cn-beijing.aliyuncs.com', region: 'cn-beijing', accessKeyId: 'a', secretAccessKey: 'b' },
    'ceph.internal': { endpoint: 'http://10.0.0.5:7480', accessKeyId: 'c', secretAccessKey: 'd', addressing: 'path', requestTimeoutMs: 5000 },
  } }));
  const hosts = await loadOssHosts({ file, specs: ['extra.example=http://e:f@127.0.0.1:1'] });
  assert.deepEqual(hosts.names().sort(), ['ceph.internal', 'extra.example', 'oss-cn-beijing.aliyuncs.com']);
  assert.ok(hosts.has('OSS-CN-BEIJING.ALIYUNCS.COM'));
  assert.equal(hosts.get('ceph.internal')!.requestTimeoutMs, 5000);
  assert.equal(hosts.get('ceph.internal')!.partSize, OSS_HOST_DEFAULTS.partSize);
  assert.equal(hosts.has('oss-cn-hangzhou.aliyuncs.com'), false);
  for (const [text, message] of [
    ['{', /not valid JSON/],
    ['[]', /expected \{"hosts"/],
    ['{"hosts": {}, "other": 1}', /unknown key "other"/],
    ['{"hosts": {"h": 5}}', /"h" in .*: expected an object/],
    ['{"hosts": {"h": {"endpoint": "http://x", "accessKeyId": "a"}}}', /"h" in .*: secretAccessKey is required/],
    ['{"hosts": {"h": {"endpoint": "http://u:p@x", "accessKeyId": "a", "secretAccessKey": "b"}}}', /scheme:\/\/host\[:port\] only/],
  ] as const) {
    assert.throws(() => parseOssConfig(text, 'x.json'), (e: Error) => e instanceof OssConfigError && message.test(e.message), text);
  }
  await assert.rejects(loadOssHosts({ file: join(dir, 'missing.json') }), /OSS config .*missing\.json: cannot read it \(ENOENT\)/);
});

test('serve options: --oss-config, repeated --oss-host, OAS_OSS_CONFIG and OAS_OSS_HOSTS (flags win); help text', () => {
  const env = { OAS_OSS_CONFIG: '/etc/oas/oss.json', OAS_OSS_HOSTS: ' a=http://k:s@h1  b=http://k:s@h2\n' };
  assert.deepEqual(parseServeArgs([], env).options.ossHostSpecs, ['a=http://k:s@h1', 'b=http://k:s@h2']);
  assert.equal(parseServeArgs([], env).options.ossConfigFile, '/etc/oas/oss.json');
  const o = parseServeArgs(['--oss-host', 'c=http://k:s@h3', '--oss-host=d=http://k:s@h4', '--oss-config', 'mine.json'], env).options;
  assert.deepEqual(o.ossHostSpecs, ['c=http://k:s@h3', 'd=http://k:s@h4']);
  assert.equal(o.ossConfigFile, 'mine.json');
  assert.deepEqual(parseServeArgs([], {}).options.ossHostSpecs, []);
  assert.throws(() => parseServeArgs(['--oss-config', ''], {}), ConfigError);
  assert.match(helpText(), /--oss-config <value> +JSON file of the OSS hosts/);
  assert.match(helpText(), /--oss-host <NAME=URL> +an OSS host pull\/push jobs may use, repeatable/);
});

test('a bad OSS configuration stops the server from starting: createServer rejects, oas-server exits 2', async () => {
  await assert.rejects(createServer({ dataDir: join(dir, 'd1'), port: 0, logLevel: 'silent', ossHostSpecs: ['x=http://k@host'] }),
    (e: Error) => e instanceof OssConfigError && /--oss-host x: secretAccessKey is required/.test(e.message));
  const r = await runCli(['serve', '--port', '0', '--data-dir', join(dir, 'd2'), '--oss-host', 'y=http://k:s@h?verifyEtag=maybe']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'oas-server: OSS host --oss-host y: verifyEtag must be true or false\n');
});

test('oas-server with --oss-host pulls from the store it names, and refuses other hosts', async () => {
  let s3: S3TestServer | null = null;
  let child: ChildProcess | null = null;
  try {
    s3 = await startS3rver();
    await s3.createBucket('from-cli');
    const data = pattern(2 * MIB + 1, 3);
    const c = testS3Client(s3);
    await c.send(new PutObjectCommand({ Bucket: 'from-cli', Key: 'obj', Body: data }));
    c.destroy();
    const spec = `local.s3=http://${s3.accessKeyId}:${s3.secretAccessKey}@${new URL(s3.endpoint).host}?addressing=path`;
    child = spawnCli(['serve', '--port', '0', '--data-dir', join(dir, 'd3'), '--oss-host', spec], {
      OAS_ROOT_ACCESS_KEY_ID: 'OSSCLIKEY', OAS_ROOT_ACCESS_KEY_SECRET: 'oss-cli-secret',
    });
    let stdout = '';
    const proc = child;
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /"url":"(http:\/\/[^"]+)"/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      proc.on('close', () => reject(new Error(`server exited: ${stdout}`)));
    });
    const client = new Client(Number(new URL(url).port), 'OSSCLIKEY', 'oss-cli-secret');
    const vault = await client.vaultId('cli');
    const refused = await client.createJob(vault, { Type: 'pull-from-oss', OSSHost: 'other.s3', Bucket: 'from-cli', Object: 'obj' });
    assert.equal(refused.status, 400);
    const jobId = await client.jobId(vault, { Type: 'pull-from-oss', OSSHost: 'local.s3', Bucket: 'from-cli', Object: 'obj' });
    const job = await client.waitJob(vault, jobId);
    assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
    assert.equal(job.ArchiveTreeEtag, treeEtag(data));
    const exited = new Promise((resolve) => proc.on('close', resolve));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await s3?.stop();
  }
});

test('sizes: push parts grow to stay within 10,000 (up to 40,000 GiB); pull blobs are 4 GiB, more only past 64 of them', async () => {
  const { pushPartSize } = await import('../src/jobs/runners/oss-push.js');
  const { pullSegmentBytes } = await import('../src/jobs/runners/oss-pull.js');
  const GIB = 1024 * MIB;
  assert.equal(pushPartSize(GIB, 64 * MIB), 64 * MIB);
  assert.equal(pushPartSize(10_000 * 64 * MIB, 64 * MIB), 64 * MIB);
  assert.equal(pushPartSize(10_000 * 64 * MIB + 1, 64 * MIB), 128 * MIB);
  assert.equal(pushPartSize(40_000 * GIB, 64 * MIB), 4 * GIB);
  assert.equal(pushPartSize(40_000 * GIB, 5 * MIB), 5 * GIB);
  assert.equal(pullSegmentBytes(7 * GIB), 4 * GIB);
  assert.equal(pullSegmentBytes(256 * GIB), 4 * GIB);
  assert.equal(pullSegmentBytes(40_000 * GIB), 625 * GIB);
});
