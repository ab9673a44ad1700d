// The credentials file (official INI format) and where each setting comes from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIni, formatIni } from '../src/ini.js';
import { resolveCredentials, writeConfigFile, configFilePath, parseHost, DEFAULT_HOST } from '../src/config.js';
import { UsageError } from '../src/errors.js';

const OFFICIAL = `[OASCredentials]
host = cn-qingdao.oas.aliyuncs.com
port = 8080
accessid = AKID
accesskey = SECRET
osshost = oss-cn-hangzhou.aliyuncs.com   ; optional, used by cp

`;

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'oascmd-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('parseIni reads what Python ConfigParser writes and accepts', () => {
  const ini = parseIni('# comment\n; another\n[OASCredentials]\nHost: h1\naccessid=a ; inline\nmulti = one\n  two\n\n[Other]\nx = 1\n');
  const s = ini.get('OASCredentials')!;
  assert.equal(s.get('host'), 'h1');
  assert.equal(s.get('accessid'), 'a');
  assert.equal(s.get('multi'), 'one\ntwo');
  assert.equal(ini.get('Other')!.get('x'), '1');
  const official = parseIni(OFFICIAL).get('OASCredentials')!;
  assert.equal(official.get('osshost'), 'oss-cn-hangzhou.aliyuncs.com');
});

test('formatIni writes key = value lines and a blank line per section', () => {
  const text = formatIni(new Map([['OASCredentials', new Map([['host', 'h'], ['port', '80']])]]));
  assert.equal(text, '[OASCredentials]\nhost = h\nport = 80\n\n');
});

test('an official-format file works, and its port is used (a documented deviation)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'creds');
  await writeFile(file, OFFICIAL);
  const c = await resolveCredentials({ configFile: file }, { HOME: dir });
  assert.deepEqual(c, { host: 'cn-qingdao.oas.aliyuncs.com', port: 8080, secure: false, accessId: 'AKID', accessKey: 'SECRET',
    ossHost: 'oss-cn-hangzhou.aliyuncs.com', configFile: file });
});

test('precedence: flag > environment > file > defaults', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, '.oascredentials'), OFFICIAL);
  const env = { HOME: dir, OAS_HOST: 'envhost', OAS_PORT: '9000', OAS_ACCESS_KEY_ID: 'ENVID' };
  const fromEnv = await resolveCredentials({}, env);
  assert.equal(fromEnv.host, 'envhost');
  assert.equal(fromEnv.port, 9000);
  assert.equal(fromEnv.accessId, 'ENVID');
  assert.equal(fromEnv.accessKey, 'SECRET');
  const fromFlags = await resolveCredentials({ host: 'flaghost', port: '81', id: 'FID', key: 'FKEY' }, env);
  assert.deepEqual([fromFlags.host, fromFlags.port, fromFlags.accessId, fromFlags.accessKey], ['flaghost', 81, 'FID', 'FKEY']);
  const defaults = await resolveCredentials({ id: 'a', key: 'b' }, { HOME: join(dir, 'nowhere') });
  assert.deepEqual([defaults.host, defaults.port], [DEFAULT_HOST, 80]);
});

test('a port in the host loses only to a port given at the same or a higher level; https and 443 mean HTTPS', async () => {
  const base = { id: 'a', key: 'b' };
  const env = { HOME: '/nonexistent' };
  assert.equal((await resolveCredentials({ ...base, host: 'localhost:8080' }, env)).port, 8080);
  assert.equal((await resolveCredentials({ ...base, host: 'localhost:8080', port: '9' }, env)).port, 9);
  assert.equal((await resolveCredentials({ ...base, host: 'localhost:8080' }, { ...env, OAS_PORT: '7' })).port, 8080);
  assert.equal((await resolveCredentials({ ...base }, { ...env, OAS_HOST: 'h:5', OAS_PORT: '7' })).port, 7);
  const tls = await resolveCredentials({ ...base, host: 'https://example.com' }, env);
  assert.deepEqual([tls.host, tls.port, tls.secure], ['example.com', 443, true]);
  assert.equal((await resolveCredentials({ ...base, host: 'https://example.com:8443' }, env)).port, 8443);
  assert.equal((await resolveCredentials({ ...base, port: '443' }, env)).secure, true);
  assert.deepEqual(parseHost('[::1]:8080', 'x'), { host: '::1', port: 8080 });
  assert.throws(() => parseHost('a b', 'x'), UsageError);
});

test('missing credentials or a bad port are usage errors that say what to do', async () => {
  await assert.rejects(resolveCredentials({}, { HOME: '/nonexistent' }), (e: unknown) =>
    e instanceof UsageError && /no access key id and secret/.test(e.message) && /oascmd config/.test(e.message));
  await assert.rejects(resolveCredentials({ id: 'a' }, { HOME: '/nonexistent' }), /no access key secret/);
  await assert.rejects(resolveCredentials({ id: 'a', key: 'b', port: 'http' }, { HOME: '/nonexistent' }), /bad port 'http'/);
});

test('configFilePath: --config-file > OAS_CONFIG_FILE > ~/.oascredentials', () => {
  assert.equal(configFilePath({ configFile: '/x' }, { OAS_CONFIG_FILE: '/y', HOME: '/h' }), '/x');
  assert.equal(configFilePath({}, { OAS_CONFIG_FILE: '/y', HOME: '/h' }), '/y');
  assert.equal(configFilePath({}, { HOME: '/h' }), '/h/.oascredentials');
  assert.equal(configFilePath({ configFile: '~/c' }, { HOME: '/h' }), '/h/c');
});

test('writeConfigFile: official format, mode 0600, keeps osshost and other sections', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'creds');
  await writeFile(file, OFFICIAL + '[Extra]\nkeep = me\n');
  await writeConfigFile(file, { host: 'localhost', port: 8080, accessId: 'id2', accessKey: 'key2' });
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const text = await readFile(file, 'utf8');
  assert.equal(text, '[OASCredentials]\nhost = localhost\nport = 8080\naccessid = id2\naccesskey = key2\nosshost = oss-cn-hangzhou.aliyuncs.com\n\n[Extra]\nkeep = me\n\n');
  const c = await resolveCredentials({ configFile: file }, {});
  assert.deepEqual([c.host, c.port, c.accessId, c.accessKey], ['localhost', 8080, 'id2', 'key2']);
});
