// Proves the client harness and cross-checks our SigV4 verifier against real clients: the AWS
// CLI, boto3 and @aws-sdk/client-glacier send ListVaults, UploadArchive and a ranged
// GetJobOutput to a recording stub, and every request they signed must verify with ours,
// including the body's x-amz-content-sha256. Then one changed byte or header must not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListVaultsCommand, UploadArchiveCommand, GetJobOutputCommand } from '@aws-sdk/client-glacier';
import {
  verifySigV4, pairRawHeaders, sha256Hex, PayloadHashCheck, PayloadHashMismatchError, treeHash, type SigV4Result,
} from '@oas/sdk';
import { authenticateSmallBody } from '../src/http/glacier/auth.js';
import { GlacierFailure } from '../src/http/glacier/errors.js';
import { runAwsGlacier, runBoto3, glacierJsClient, type GlacierEndpoint } from './helpers/glacier-clients.js';

interface Recorded {
  client: string;
  method: string;
  path: string;
  query: string;
  rawHeaders: string[];
  body: Buffer;
  /** What the front end's authenticateSmallBody said on the live request. */
  live: string;
}

const ARCHIVE = Buffer.from('Welcome to a self-hosted Glacier, byte for byte.\n');
const OUTPUT = Buffer.from('job output');
const recorded: Recorded[] = [];
let current = '';
let server: Server;
let endpoint: GlacierEndpoint;
let dir: string;

/** Just enough of Glacier for the three operations to succeed in every client. */
function respond(method: string, path: string, res: import('node:http').ServerResponse): void {
  res.setHeader('x-amzn-RequestId', 'stub');
  if (method === 'GET' && path === '/-/vaults') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"Marker":null,"VaultList":[]}');
  } else if (method === 'POST' && path.endsWith('/archives')) {
    res.writeHead(201, {
      Location: '/012345678901/vaults/v/archives/A1', 'x-amz-archive-id': 'A1', 'x-amz-sha256-tree-hash': treeHash(ARCHIVE),
    }).end();
  } else if (method === 'GET' && path.endsWith('/output')) {
    res.writeHead(206, {
      'Content-Type': 'application/octet-stream', 'Content-Range': `bytes 0-${OUTPUT.length - 1}/${OUTPUT.length}`,
      'Accept-Ranges': 'bytes', 'x-amz-sha256-tree-hash': treeHash(OUTPUT),
    }).end(OUTPUT);
  } else {
    res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"code":"BadRequest","message":"stub","type":"Client"}');
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glacier-clients-'));
  await writeFile(join(dir, 'archive.bin'), ARCHIVE);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      const body = Buffer.concat(chunks);
      void authenticateSmallBody(req, { sha256: sha256Hex(body) }, { secretFor })
        .then(() => 'ok', (err: unknown) => (err instanceof GlacierFailure ? err.message : String(err)))
        .then((live) => {
          recorded.push({ client: current, method: req.method!, path, query: q < 0 ? '' : url.slice(q + 1), rawHeaders: req.rawHeaders, body, live });
          respond(req.method!, path, res);
        });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as import('node:net').AddressInfo).port;
  endpoint = { port, accessKeyId: 'AKIAGLACIERHARNESS01', secretAccessKey: 'harness/Secret+Key/0123456789abcdefghijk' };
});

after(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

function secretFor(id: string): string | undefined {
  return id === endpoint.accessKeyId ? endpoint.secretAccessKey : undefined;
}

/** What our server will do: verify, then bind the body to the hash the signature covered. */
async function verifyRecorded(r: Recorded, body = r.body, rawHeaders = r.rawHeaders): Promise<SigV4Result & { bodyOk?: boolean }> {
  const headers = pairRawHeaders(rawHeaders);
  const declared = headers.some(([k]) => k.toLowerCase() === 'x-amz-content-sha256');
  const result = await verifySigV4({ method: r.method, path: r.path, query: r.query, headers }, {
    secretFor,
    ...(declared ? {} : { bodySha256: sha256Hex(body) }),
  });
  if (!result.ok || !result.bodyCheckNeeded) return result;
  try {
    new PayloadHashCheck(result.payloadHash).update(body).verify();
    return { ...result, bodyOk: true };
  } catch (err) {
    assert.ok(err instanceof PayloadHashMismatchError);
    return { ...result, bodyOk: false };
  }
}

function signedHeaders(r: Recorded): string[] {
  const auth = pairRawHeaders(r.rawHeaders).find(([k]) => k.toLowerCase() === 'authorization')![1];
  return /SignedHeaders=([^,\s]+)/.exec(auth)![1]!.split(';');
}

function ofClient(client: string): Recorded[] {
  return recorded.filter((r) => r.client === client);
}

async function checkClient(client: string, diagnostic: (m: string) => void): Promise<void> {
  const requests = ofClient(client);
  for (const r of requests) diagnostic(`${r.method} ${r.path} SignedHeaders=${signedHeaders(r).join(';')}`);
  assert.deepEqual(requests.map((r) => `${r.method} ${r.path}`),
    ['GET /-/vaults', 'POST /-/vaults/v/archives', 'GET /-/vaults/v/jobs/J1/output'], client);
  for (const r of requests) {
    assert.equal(r.live, 'ok', `${client} ${r.method} ${r.path}, authenticated live`);
    const result = await verifyRecorded(r);
    assert.ok(result.ok, `${client} ${r.method} ${r.path}: ${JSON.stringify(result)}`);
    assert.notEqual(result.bodyOk, false, `${client} ${r.method} ${r.path}: body does not match x-amz-content-sha256`);
    const signed = signedHeaders(r);
    for (const h of ['host', 'x-amz-date', 'x-amz-glacier-version']) assert.ok(signed.includes(h), `${client} signs ${h}`);
  }
  const [, upload, output] = requests as [Recorded, Recorded, Recorded];
  assert.deepEqual(upload.body, ARCHIVE);
  assert.ok(signedHeaders(upload).includes('x-amz-content-sha256') && signedHeaders(upload).includes('x-amz-sha256-tree-hash'), client);
  assert.ok(signedHeaders(output).includes('range'), `${client} signs range on GetJobOutput`);

  // One changed body byte fails the body check; one changed signed header fails the signature.
  const tampered = Buffer.from(upload.body);
  tampered[0] = tampered[0]! ^ 1;
  const bodyResult = await verifyRecorded(upload, tampered);
  assert.ok(bodyResult.ok && bodyResult.bodyOk === false, `${client}: tampered body`);
  const headers = [...output.rawHeaders];
  const i = headers.findIndex((h) => h.toLowerCase() === 'range');
  headers[i + 1] = 'bytes=0-2097151';
  const rangeResult = await verifyRecorded(output, output.body, headers);
  assert.ok(!rangeResult.ok && rangeResult.reason === 'signature-mismatch', `${client}: tampered range`);
}

test('the AWS CLI: its signatures verify with ours', async (t) => {
  current = 'aws';
  const list = await runAwsGlacier(endpoint, ['list-vaults', '--account-id', '-']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(list.json(), { VaultList: [] });
  const upload = await runAwsGlacier(endpoint, ['upload-archive', '--account-id', '-', '--vault-name', 'v', '--body', 'archive.bin'], dir);
  assert.equal(upload.code, 0, upload.stderr);
  assert.equal((upload.json() as { archiveId: string }).archiveId, 'A1');
  const output = await runAwsGlacier(endpoint,
    ['get-job-output', '--account-id', '-', '--vault-name', 'v', '--job-id', 'J1', '--range', 'bytes=0-1048575', 'out.bin'], dir);
  assert.equal(output.code, 0, output.stderr);
  assert.equal((output.json() as { checksum: string }).checksum, treeHash(OUTPUT));
  await checkClient('aws', (m) => t.diagnostic(m));
});

test('boto3 (resource and client API): its signatures verify with ours', async (t) => {
  current = 'boto3';
  const result = await runBoto3(endpoint, `
emit([v.name for v in glacier.vaults.all()])
emit(client.upload_archive(vaultName='v', body=${JSON.stringify(ARCHIVE.toString())}.encode())['archiveId'])
out = client.get_job_output(vaultName='v', jobId='J1', range='bytes=0-1048575')
emit([out['status'], out['checksum'], out['body'].read().decode()])
`);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.lines(), [[], 'A1', [206, treeHash(OUTPUT), OUTPUT.toString()]]);
  await checkClient('boto3', (m) => t.diagnostic(m));
});

test('@aws-sdk/client-glacier: its signatures verify with ours', async (t) => {
  current = 'js';
  const client = glacierJsClient(endpoint);
  try {
    assert.deepEqual((await client.send(new ListVaultsCommand({ accountId: '-' }))).VaultList, []);
    assert.equal((await client.send(new UploadArchiveCommand({ accountId: '-', vaultName: 'v', body: ARCHIVE }))).archiveId, 'A1');
    const out = await client.send(new GetJobOutputCommand({ accountId: '-', vaultName: 'v', jobId: 'J1', range: 'bytes=0-1048575' }));
    assert.equal(out.checksum, treeHash(OUTPUT));
    assert.equal(Buffer.from(await out.body!.transformToByteArray()).toString(), OUTPUT.toString());
  } finally {
    client.destroy();
  }
  await checkClient('js', (m) => t.diagnostic(m));
});
