// What every OASAPI method puts on the wire: method, path, query, headers, body, and a
// signature recomputed here from protocol.md §2 without the SDK's own signing code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { OASAPI } from '../src/client/index.js';
import { startRecordingServer, type RecordingServer, type RecordedRequest } from './helpers/recording-server.js';
import { pattern } from './helpers/pattern.js';

const ID = 'OASExampleAccessId';
const SECRET = 'OASExampleAccessKeySecret';
const VAULT = '79D2D8F33B7C287037286185863B6823';
const ARCHIVE = 'A1B2C3D4E5F60718293A4B5C6D7E8F90';
const UPLOAD = '0C7A4E5F60718293A4B5C6D7E8F90A1B';
const JOB = 'J0B4E5F60718293A4B5C6D7E8F90A1B2';

// ---- an independent implementation of protocol.md §2 ---------------------------------------

/** StringToSign of protocol.md §2.2–2.4 for a request as the server received it. */
function independentStringToSign(rec: RecordedRequest): string {
  const date = rec.header('date') ?? '';
  // Header bytes arrive as latin1 text; the client sends UTF-8 bytes, so re-decode.
  const oas = rec.rawHeaders
    .filter(([k]) => k.toLowerCase().startsWith('x-oas-'))
    .map(([k, v]) => [k.toLowerCase(), Buffer.from(v, 'latin1').toString('utf8')] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const params = new Map<string, string>();
  for (const part of rec.rawQuery.split('&').filter(Boolean)) {
    const eq = part.indexOf('=');
    params.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1)));
  }
  // Only limit and marker are OAS sub-resources; limit sorts first.
  const sub = ['limit', 'marker'].filter((n) => params.has(n)).map((n) => (params.get(n) === '' ? n : `${n}=${params.get(n)}`));
  const resource = rec.path + (sub.length ? '?' + sub.join('&') : '');
  return `${rec.method}\n${date}\n${oas.map(([k, v]) => `${k}:${v}\n`).join('')}${resource}`;
}

function independentAuthorization(sts: string): string {
  return `OAS ${ID}:${createHmac('sha1', SECRET).update(Buffer.from(sts, 'utf8')).digest('base64')}`;
}

test('the independent signer reproduces protocol.md §2.6 example D', () => {
  const rec = {
    method: 'GET', path: '/vaults', rawQuery: 'marker&limit=10',
    rawHeaders: [['Date', 'Tue, 25 Mar 2014 12:00:00 GMT'], ['x-oas-version', '0.2.5']],
    header: (n: string) => (n === 'date' ? 'Tue, 25 Mar 2014 12:00:00 GMT' : undefined),
  } as unknown as RecordedRequest;
  assert.equal(independentAuthorization(independentStringToSign(rec)), 'OAS OASExampleAccessId:Zbd09j4c7/gGqo58/D7yMBUTk6c=');
});

test('the package entry point re-exports the client', async () => {
  const sdk = await import('../src/index.js');
  assert.equal(sdk.OASAPI, OASAPI);
});

// ---- fixture ------------------------------------------------------------------------

let server: RecordingServer;
let api: OASAPI;

before(async () => {
  server = await startRecordingServer();
  api = new OASAPI(server.host, ID, SECRET, { port: server.port });
});

after(async () => {
  api.close();
  await server.close();
});

interface Expected {
  method: string;
  path: string;
  rawQuery?: string;
  /** Every x-oas-* header besides x-oas-version, with its intended (decoded) value. */
  oas?: Record<string, string>;
  /** Other operation headers that must be present with exactly this value. */
  extra?: Record<string, string>;
  body?: Buffer | string;
}

/** Calls, then checks everything about the single request that call produced. */
async function expectWire(call: () => Promise<{ status: number; dispose(): void }>, want: Expected): Promise<RecordedRequest> {
  const next = server.waitForRequest();
  const before = Date.now();
  const res = await call();
  res.dispose();
  const rec = await next;
  await rec.done;
  assert.equal(res.status, 200);
  assert.equal(rec.method, want.method);
  assert.equal(rec.path, want.path);
  assert.equal(rec.rawQuery, want.rawQuery ?? '');

  assert.deepEqual(rec.headerAll('host'), [server.host], 'exactly one Host header, without port');
  const date = rec.header('date') ?? '';
  assert.match(date, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  assert.ok(Math.abs(Date.parse(date) - before) < 60_000);
  assert.equal(rec.header('user-agent'), 'OAS TypeScript SDK/0.1.0');
  assert.equal(rec.header('accept-encoding'), 'identity');
  assert.equal(rec.header('content-type'), undefined, 'no Content-Type, like the SDK');

  const body = want.body === undefined ? Buffer.alloc(0) : Buffer.from(want.body);
  assert.equal(rec.header('content-length'), String(body.length));
  assert.equal(rec.bodyLength, body.length);
  assert.equal(rec.bodyMd5, createHash('md5').update(body).digest('hex').toUpperCase());

  const oas = Object.fromEntries(rec.rawHeaders
    .filter(([k]) => k.toLowerCase().startsWith('x-oas-'))
    .map(([k, v]) => [k.toLowerCase(), Buffer.from(v, 'latin1').toString('utf8')]));
  assert.deepEqual(oas, { 'x-oas-version': '0.2.5', ...want.oas });
  for (const [name, value] of Object.entries(want.extra ?? {})) assert.equal(rec.header(name), value, name);
  for (const name of ['range', 'content-range']) {
    if (!Object.keys(want.extra ?? {}).some((k) => k.toLowerCase() === name)) assert.equal(rec.header(name), undefined, name);
  }

  assert.equal(rec.header('authorization'), independentAuthorization(independentStringToSign(rec)));
  return rec;
}

// ---- vaults -------------------------------------------------------------------------

test('createVault: PUT /vaults/{name}, empty body', async () => {
  await expectWire(() => api.createVault('myvault1'), { method: 'PUT', path: '/vaults/myvault1' });
});

test('deleteVault: DELETE /vaults/{id}', async () => {
  await expectWire(() => api.deleteVault(VAULT), { method: 'DELETE', path: `/vaults/${VAULT}` });
});

test('getVaultDesc: GET /vaults/{id}', async () => {
  await expectWire(() => api.getVaultDesc(VAULT), { method: 'GET', path: `/vaults/${VAULT}` });
});

test('listVault: no query when marker and limit are undefined', async () => {
  await expectWire(() => api.listVault(), { method: 'GET', path: '/vaults' });
  await expectWire(() => api.listVault(undefined, undefined), { method: 'GET', path: '/vaults' });
});

test('listVault: empty marker is sent as a bare name and signed as `?limit=10&marker`', async () => {
  const rec = await expectWire(() => api.listVault('', 10), { method: 'GET', path: '/vaults', rawQuery: 'marker&limit=10' });
  assert.ok(independentStringToSign(rec).endsWith('\n/vaults?limit=10&marker'));
});

test('listVault: marker and limit', async () => {
  const rec = await expectWire(() => api.listVault('C83DE8B245184E28AEED6CF1CED915F2', 1),
    { method: 'GET', path: '/vaults', rawQuery: 'marker=C83DE8B245184E28AEED6CF1CED915F2&limit=1' });
  assert.ok(independentStringToSign(rec).endsWith('\n/vaults?limit=1&marker=C83DE8B245184E28AEED6CF1CED915F2'));
});

test('listVault: only the parameter given', async () => {
  await expectWire(() => api.listVault(undefined, 5), { method: 'GET', path: '/vaults', rawQuery: 'limit=5' });
  await expectWire(() => api.listVault('M'), { method: 'GET', path: '/vaults', rawQuery: 'marker=M' });
});

test('listVault: marker values are URL-encoded on the wire and signed decoded', async () => {
  const rec = await expectWire(() => api.listVault('a b/c&d', 2), { method: 'GET', path: '/vaults', rawQuery: 'marker=a%20b%2Fc%26d&limit=2' });
  assert.ok(independentStringToSign(rec).endsWith('\n/vaults?limit=2&marker=a b/c&d'));
});

// ---- archives -----------------------------------------------------------------------

test('postArchive: checksums, description, body (protocol.md §2.6 example B shape)', async () => {
  const data = pattern(3_145_733);
  await expectWire(() => api.postArchive(VAULT, data, '028BFCC1395093C0DF0DC731DE96E1B5', '2B016A0FD13C7CBC62DE133A913C2E6B', 'backup 2014'), {
    method: 'POST', path: `/vaults/${VAULT}/archives`, body: data,
    oas: {
      'x-oas-content-etag': '028BFCC1395093C0DF0DC731DE96E1B5',
      'x-oas-tree-etag': '2B016A0FD13C7CBC62DE133A913C2E6B',
      'x-oas-archive-description': 'backup 2014',
    },
  });
});

test('postArchive: no description header when desc is undefined; string body as UTF-8', async () => {
  await expectWire(() => api.postArchive(VAULT, 'héllo', 'E', 'T'), {
    method: 'POST', path: `/vaults/${VAULT}/archives`, body: Buffer.from('héllo', 'utf8'),
    oas: { 'x-oas-content-etag': 'E', 'x-oas-tree-etag': 'T' },
  });
});

test('postArchive: a Uint8Array view sends exactly its bytes', async () => {
  const backing = pattern(1000);
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 100, 300);
  await expectWire(() => api.postArchive(VAULT, view, 'E', 'T'), {
    method: 'POST', path: `/vaults/${VAULT}/archives`, body: backing.subarray(100, 400),
    oas: { 'x-oas-content-etag': 'E', 'x-oas-tree-etag': 'T' },
  });
});

test('non-ASCII description: UTF-8 bytes on the wire, signature matches them decoded as UTF-8', async () => {
  for (const desc of ['café', '归档 2014 — ünïcödé 🎉']) {
    const rec = await expectWire(() => api.postArchive(VAULT, 'x', 'E', 'T', desc), {
      method: 'POST', path: `/vaults/${VAULT}/archives`, body: 'x',
      oas: { 'x-oas-content-etag': 'E', 'x-oas-tree-etag': 'T', 'x-oas-archive-description': desc },
    });
    const raw = Buffer.from(rec.header('x-oas-archive-description')!, 'latin1');
    assert.deepEqual(raw, Buffer.from(desc, 'utf8'), 'raw header bytes are the UTF-8 encoding');
  }
});

test('postArchiveFromReader: same headers as postArchive, Content-Length = contentLength', async () => {
  const data = pattern(200_000);
  await expectWire(() => api.postArchiveFromReader(VAULT, Readable.from([data.subarray(0, 70_000), data.subarray(70_000)], { objectMode: false }),
    150_000, 'ETAG', 'TREE', 'streamed'), {
    method: 'POST', path: `/vaults/${VAULT}/archives`, body: data.subarray(0, 150_000),
    oas: { 'x-oas-content-etag': 'ETAG', 'x-oas-tree-etag': 'TREE', 'x-oas-archive-description': 'streamed' },
  });
});

test('deleteArchive: DELETE /vaults/{id}/archives/{archiveId}', async () => {
  await expectWire(() => api.deleteArchive(VAULT, ARCHIVE), { method: 'DELETE', path: `/vaults/${VAULT}/archives/${ARCHIVE}` });
});

test('headArchive: GET /vaults/{id}/archives/{archiveId}/meta', async () => {
  await expectWire(() => api.headArchive(VAULT, ARCHIVE), { method: 'GET', path: `/vaults/${VAULT}/archives/${ARCHIVE}/meta` });
});

// ---- multipart ----------------------------------------------------------------------

test('createMultipartUpload: x-oas-part-size and description', async () => {
  await expectWire(() => api.createMultipartUpload(VAULT, 67_108_864, 'big file'), {
    method: 'POST', path: `/vaults/${VAULT}/multipart-uploads`,
    oas: { 'x-oas-part-size': '67108864', 'x-oas-archive-description': 'big file' },
  });
  await expectWire(() => api.createMultipartUpload(VAULT, 33_554_432), {
    method: 'POST', path: `/vaults/${VAULT}/multipart-uploads`, oas: { 'x-oas-part-size': '33554432' },
  });
});

test('listMultipartUpload: query', async () => {
  await expectWire(() => api.listMultipartUpload(VAULT, '', 2),
    { method: 'GET', path: `/vaults/${VAULT}/multipart-uploads`, rawQuery: 'marker&limit=2' });
  await expectWire(() => api.listMultipartUpload(VAULT), { method: 'GET', path: `/vaults/${VAULT}/multipart-uploads` });
});

test('deleteMultipartUpload: DELETE', async () => {
  await expectWire(() => api.deleteMultipartUpload(VAULT, UPLOAD), { method: 'DELETE', path: `/vaults/${VAULT}/multipart-uploads/${UPLOAD}` });
});

test('postMultipart: PUT with Content-Range `start-end` (no bytes prefix)', async () => {
  const data = pattern(1_048_576);
  await expectWire(() => api.postMultipart(VAULT, UPLOAD, data, '0-1048575', '8F293A2F6C19B345152F7A49BB4C643C', '8F293A2F6C19B345152F7A49BB4C643C'), {
    method: 'PUT', path: `/vaults/${VAULT}/multipart-uploads/${UPLOAD}`, body: data,
    oas: { 'x-oas-content-etag': '8F293A2F6C19B345152F7A49BB4C643C', 'x-oas-tree-etag': '8F293A2F6C19B345152F7A49BB4C643C' },
    extra: { 'Content-Range': '0-1048575' },
  });
});

test('postMultipartFromReader: PUT with Content-Range, body streamed', async () => {
  const data = pattern(3000);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < data.length; i += 1000) yield data.subarray(i, i + 1000);
  }
  await expectWire(() => api.postMultipartFromReader(VAULT, UPLOAD, chunks(), 2500, '67108864-67111363', 'E', 'T'), {
    method: 'PUT', path: `/vaults/${VAULT}/multipart-uploads/${UPLOAD}`, body: data.subarray(0, 2500),
    oas: { 'x-oas-content-etag': 'E', 'x-oas-tree-etag': 'T' },
    extra: { 'Content-Range': '67108864-67111363' },
  });
});

test('listMultipart: query', async () => {
  await expectWire(() => api.listMultipart(VAULT, UPLOAD, 'M0'),
    { method: 'GET', path: `/vaults/${VAULT}/multipart-uploads/${UPLOAD}`, rawQuery: 'marker=M0' });
  await expectWire(() => api.listMultipart(VAULT, UPLOAD, undefined, 50),
    { method: 'GET', path: `/vaults/${VAULT}/multipart-uploads/${UPLOAD}`, rawQuery: 'limit=50' });
});

test('completeMultipartUpload: x-oas-archive-size and x-oas-tree-etag', async () => {
  await expectWire(() => api.completeMultipartUpload(VAULT, UPLOAD, 209_715_200, '5E863328970BD2F6C6CE6C8CEA5AEB59'), {
    method: 'POST', path: `/vaults/${VAULT}/multipart-uploads/${UPLOAD}`,
    oas: { 'x-oas-archive-size': '209715200', 'x-oas-tree-etag': '5E863328970BD2F6C6CE6C8CEA5AEB59' },
  });
});

// ---- jobs ---------------------------------------------------------------------------

test('createJob: archive-retrieval JSON body in Python json.dumps form', async () => {
  await expectWire(() => api.createJob(VAULT, 'archive-retrieval', ARCHIVE, 'restore', '0-1048575'), {
    method: 'POST', path: `/vaults/${VAULT}/jobs`,
    body: `{"Type": "archive-retrieval", "ArchiveId": "${ARCHIVE}", "RetrievalByteRange": "0-1048575", "Description": "restore"}`,
  });
  await expectWire(() => api.createJob(VAULT, 'archive-retrieval', ARCHIVE), {
    method: 'POST', path: `/vaults/${VAULT}/jobs`, body: `{"Type": "archive-retrieval", "ArchiveId": "${ARCHIVE}"}`,
  });
});

test('createJob: inventory-retrieval ignores archive id and range, as the SDK does', async () => {
  await expectWire(() => api.createJob(VAULT, 'inventory-retrieval', undefined, 'inv'), {
    method: 'POST', path: `/vaults/${VAULT}/jobs`, body: '{"Type": "inventory-retrieval", "Description": "inv"}',
  });
  await expectWire(() => api.createJob(VAULT, 'inventory-retrieval', ARCHIVE, undefined, '0-1'), {
    method: 'POST', path: `/vaults/${VAULT}/jobs`, body: '{"Type": "inventory-retrieval"}',
  });
});

test('createJob: non-ASCII and control characters escaped like json.dumps (ASCII-only body)', async () => {
  const desc = 'café "q" \\ \n 归档 🎉\u007f';
  const rec = await expectWire(() => api.createJob(VAULT, 'inventory-retrieval', undefined, desc), {
    method: 'POST', path: `/vaults/${VAULT}/jobs`,
    body: '{"Type": "inventory-retrieval", "Description": "caf\\u00e9 \\"q\\" \\\\ \\n \\u5f52\\u6863 \\ud83c\\udf89\\u007f"}',
  });
  assert.deepEqual(JSON.parse(rec.body!.toString('utf8')), { Type: 'inventory-retrieval', Description: desc });
});

test('createOssTransferJob: push-to-oss and pull-from-oss bodies', async () => {
  await expectWire(() => api.createOssTransferJob(VAULT, 'push-to-oss', 'oss-cn-hangzhou.aliyuncs.com', 'mybucket', 'dir/obj.bin', ARCHIVE, 'push'), {
    method: 'POST', path: `/vaults/${VAULT}/jobs`,
    body: `{"Type": "push-to-oss", "OSSHost": "oss-cn-hangzhou.aliyuncs.com", "Bucket": "mybucket", "Object": "dir/obj.bin", "ArchiveId": "${ARCHIVE}", "Description": "push"}`,
  });
  await expectWire(() => api.createOssTransferJob(VAULT, 'pull-from-oss', 'oss-cn-hangzhou.aliyuncs.com', 'mybucket', 'dir/obj.bin'), {
    method: 'POST', path: `/vaults/${VAULT}/jobs`,
    body: '{"Type": "pull-from-oss", "OSSHost": "oss-cn-hangzhou.aliyuncs.com", "Bucket": "mybucket", "Object": "dir/obj.bin"}',
  });
});

test('fetchJobOutput: Range header only when given, verbatim', async () => {
  await expectWire(() => api.fetchJobOutput(VAULT, JOB), { method: 'GET', path: `/vaults/${VAULT}/jobs/${JOB}/output` });
  await expectWire(() => api.fetchJobOutput(VAULT, JOB, 'bytes=0-1048575'),
    { method: 'GET', path: `/vaults/${VAULT}/jobs/${JOB}/output`, extra: { Range: 'bytes=0-1048575' } });
});

test('listJob: query', async () => {
  await expectWire(() => api.listJob(VAULT, 'J1', 3), { method: 'GET', path: `/vaults/${VAULT}/jobs`, rawQuery: 'marker=J1&limit=3' });
  await expectWire(() => api.listJob(VAULT), { method: 'GET', path: `/vaults/${VAULT}/jobs` });
});

test('getJobDesc: GET /vaults/{id}/jobs/{jobId}', async () => {
  await expectWire(() => api.getJobDesc(VAULT, JOB), { method: 'GET', path: `/vaults/${VAULT}/jobs/${JOB}` });
});

// ---- arguments refused before anything is sent --------------------------------------

test('header values with CR/LF or other control characters are refused with a TypeError', async () => {
  const count = server.requests.length;
  await assert.rejects(api.postArchive(VAULT, 'x', 'E', 'T', 'line1\r\nx-oas-evil: 1'), (e: Error) =>
    e instanceof TypeError && /desc must not contain control characters/.test(e.message));
  await assert.rejects(api.createMultipartUpload(VAULT, 64 << 20, 'a\nb'), TypeError);
  await assert.rejects(api.postArchive(VAULT, 'x', 'E\n', 'T'), /etag must not contain control characters/);
  await assert.rejects(api.postMultipart(VAULT, UPLOAD, 'x', '0-0\r', 'E', 'T'), /prange/);
  await assert.rejects(api.fetchJobOutput(VAULT, JOB, 'bytes=0-1\n'), /orange/);
  assert.equal(server.requests.length, count, 'nothing was sent');
});

test('bad ids, sizes and limits are refused with a TypeError', async () => {
  const count = server.requests.length;
  await assert.rejects(api.deleteVault(''), /vaultId must be a non-empty string/);
  await assert.rejects(api.createMultipartUpload(VAULT, -1), /partSize must be a non-negative integer/);
  await assert.rejects(api.completeMultipartUpload(VAULT, UPLOAD, 1.5, 'T'), /fileSize/);
  await assert.rejects(api.listVault(undefined, Number.NaN), /limit must be an integer/);
  await assert.rejects(api.postArchive(VAULT, 42 as unknown as string, 'E', 'T'), /content must be/);
  assert.equal(server.requests.length, count);
});

test('ids that are not plain tokens stay one escaped path segment, and that path is what is signed', async () => {
  await expectWire(() => api.getJobDesc(VAULT, 'a/b c'), { method: 'GET', path: `/vaults/${VAULT}/jobs/a%2Fb%20c` });
});
