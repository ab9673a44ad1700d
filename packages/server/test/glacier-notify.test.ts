import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { CreateVaultCommand, DescribeJobCommand, InitiateJobCommand, SetVaultNotificationsCommand, UploadArchiveCommand } from '@aws-sdk/client-glacier';
import { ConfigError, helpText, parseServeArgs } from '../src/config.js';
import { JobNotifier, parseNotifyMapping } from '../src/http/glacier/notify.js';
import { ROOT_ACCOUNT_ID } from '../src/service/accounts.js';
import { awsAccountIdOf } from '../src/util/aws-identity.js';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { ROOT_ID, ROOT_SECRET, startServer } from './helpers/server.js';

const TOPIC = 'arn:aws:sns:us-east-1:012345678901:jobs-done';

test('--notify mappings: TOPIC_ARN=URL, http(s) only, one-line errors', () => {
  const m = parseNotifyMapping(`${TOPIC}=http://127.0.0.1:9000/hook?x=1`);
  assert.equal(m.topicArn, TOPIC);
  assert.equal(m.url.href, 'http://127.0.0.1:9000/hook?x=1');
  assert.throws(() => parseNotifyMapping('http://127.0.0.1/hook'), /expects TOPIC_ARN=URL/);
  assert.throws(() => parseNotifyMapping(`${TOPIC}=not a url`), /is not a URL/);
  assert.throws(() => parseNotifyMapping(`${TOPIC}=file:///etc/passwd`), /http or https/);
});

test('--notify is repeatable; OAS_NOTIFY takes comma or newline separated mappings; mistakes stop the start', () => {
  const a = `${TOPIC}=http://127.0.0.1:9000/a`;
  const b = 'arn:aws:sns:us-east-1:012345678901:other=https://hooks.example/b?x=1';
  assert.deepEqual(parseServeArgs([], {}).options.notifySpecs, []);
  assert.deepEqual(parseServeArgs([], { OAS_NOTIFY: `${a},\n ${b}\n` }).options.notifySpecs, [a, b]);
  assert.deepEqual(parseServeArgs(['--notify', b, '--notify', a], { OAS_NOTIFY: a }).options.notifySpecs, [b, a]);
  assert.throws(() => parseServeArgs(['--notify', 'http://127.0.0.1/x'], {}), (e: unknown) => e instanceof ConfigError && /invalid --notify: .*expects TOPIC_ARN=URL/.test(e.message));
  assert.throws(() => parseServeArgs([], { OAS_NOTIFY: `${a},${TOPIC}=http://127.0.0.1:9/other` }), /invalid OAS_NOTIFY: topic .* is mapped twice/);
  assert.match(helpText(), /--notify <TOPIC_ARN=URL>\s+POST a finished Glacier job's DescribeJob JSON/);
});

test('a notification is retried with backoff until the webhook takes it, and gives up quietly', async () => {
  const received: Array<{ type: string | undefined; body: string }> = [];
  let failFirst = 2;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      received.push({ type: req.headers['content-type'], body });
      res.writeHead(failFirst-- > 0 ? 503 : 204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
    const waits: number[] = [];
    const logs: string[] = [];
    const notifier = new JobNotifier([{ topicArn: TOPIC, url }], { attempts: 4, baseDelayMs: 100, wait: async (ms) => { waits.push(ms); }, log: (m) => logs.push(m) });
    const job = { JobId: 'J1', StatusCode: 'Succeeded', SNSTopic: TOPIC };
    assert.equal(await notifier.notify(TOPIC, job), 'sent');
    assert.deepEqual(waits, [100, 200]);
    assert.equal(received.length, 3);
    assert.deepEqual(received[2], { type: 'application/json', body: JSON.stringify(job) });
    assert.equal(await notifier.notify('arn:aws:sns:us-east-1:012345678901:other', job), 'no-mapping');
    assert.equal(await notifier.notify(null, job), 'no-mapping');
    failFirst = 10;
    waits.length = 0;
    assert.equal(await notifier.notify(TOPIC, job), 'failed');
    assert.deepEqual(waits, [100, 200, 400]);
    assert.match(logs[0]!, /not delivered after 4 attempts: HTTP 503/);
  } finally {
    server.close();
  }
  // Nobody listening: connection errors are retried the same way, then reported.
  const logs: string[] = [];
  const gone = new JobNotifier([{ topicArn: TOPIC, url: new URL('http://127.0.0.1:1/hook') }], { attempts: 2, wait: async () => {}, log: (m) => logs.push(m) });
  assert.equal(await gone.notify(TOPIC, {}), 'failed');
  assert.equal(logs.length, 1);
});

// ---------------------------------------------------------------- end to end

interface Hook {
  url: string;
  /** Bodies received per path, in order. */
  received: Map<string, Array<Record<string, unknown>>>;
  /** Resolves when `path` has received `count` bodies. */
  waitFor(path: string, count: number): Promise<Array<Record<string, unknown>>>;
  /** Requests to these paths are held open, never answered. */
  hang: Set<string>;
  /** How many held requests the client (the server under test) gave up and closed. */
  abandoned: () => number;
  /** Answer the next n requests to a path with 503. */
  failNext: Map<string, number>;
  close(): Promise<void>;
}

async function startHook(): Promise<Hook> {
  const received = new Map<string, Array<Record<string, unknown>>>();
  const waiters: Array<() => void> = [];
  const hang = new Set<string>();
  const failNext = new Map<string, number>();
  let abandoned = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const path = req.url ?? '/';
      if (hang.has(path)) {
        res.on('close', () => { abandoned++; for (const w of waiters.splice(0)) w(); });
        (received.get(path) ?? received.set(path, []).get(path)!).push(JSON.parse(body) as Record<string, unknown>);
        for (const w of waiters.splice(0)) w();
        return;
      }
      const fails = failNext.get(path) ?? 0;
      if (fails > 0) {
        failNext.set(path, fails - 1);
        res.writeHead(503).end();
        return;
      }
      (received.get(path) ?? received.set(path, []).get(path)!).push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200).end('ok');
      for (const w of waiters.splice(0)) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, received, hang, failNext, abandoned: () => abandoned,
    async waitFor(path, count) {
      for (let i = 0; i < 600; i++) {
        const got = received.get(path) ?? [];
        if (got.length >= count) return got;
        await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 100))]);
      }
      throw new Error(`${path} did not receive ${count} notifications`);
    },
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

test('--notify: a finished job\'s DescribeJob JSON is POSTed for its SNSTopic and for its vault\'s configured events, retried, failed jobs too', async () => {
  const hook = await startHook();
  const account = awsAccountIdOf(ROOT_ACCOUNT_ID);
  const jobTopic = `arn:aws:sns:us-east-1:${account}:job-done`;
  const vaultTopic = `arn:aws:sns:us-east-1:${account}:vault-events`;
  const ts = await startServer({ notifySpecs: [`${jobTopic}=${hook.url}/job`, `${vaultTopic}=${hook.url}/vault`] });
  const glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
  try {
    const vaultName = 'announced';
    await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
    const body = Buffer.from('bytes to announce');
    const { archiveId, checksum } = await glacier.send(new UploadArchiveCommand({ accountId: '-', vaultName, body }));
    await glacier.send(new SetVaultNotificationsCommand({
      accountId: '-', vaultName, vaultNotificationConfig: { SNSTopic: vaultTopic, Events: ['InventoryRetrievalCompleted'] },
    }));

    // The job's own topic; the first POST fails and is retried. The vault's events do not name archive retrievals.
    hook.failNext.set('/job', 1);
    const { jobId } = await glacier.send(new InitiateJobCommand({
      accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId, SNSTopic: jobTopic, Description: 'hooked' },
    }));
    const [sent] = await hook.waitFor('/job', 1);
    const described = await glacier.send(new DescribeJobCommand({ accountId: '-', vaultName, jobId }));
    assert.deepEqual(
      { JobId: sent!.JobId, StatusCode: sent!.StatusCode, Completed: sent!.Completed, SNSTopic: sent!.SNSTopic, Action: sent!.Action, JobDescription: sent!.JobDescription },
      { JobId: jobId, StatusCode: 'Succeeded', Completed: true, SNSTopic: jobTopic, Action: 'ArchiveRetrieval', JobDescription: 'hooked' },
    );
    assert.equal(sent!.SHA256TreeHash, checksum);
    assert.equal(sent!.VaultARN, `arn:aws:glacier:us-east-1:${account}:vaults/${vaultName}`);
    assert.equal(sent!.CompletionDate, described.CompletionDate);
    assert.equal(hook.failNext.get('/job'), 0, 'the failed first attempt was retried');

    // No SNSTopic: the vault's configuration announces the inventory.
    const inv = await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName, jobParameters: { Type: 'inventory-retrieval', Format: 'CSV' } }));
    const [vaultSent] = await hook.waitFor('/vault', 1);
    assert.deepEqual([vaultSent!.JobId, vaultSent!.Action, vaultSent!.StatusCode, vaultSent!.SNSTopic], [inv.jobId, 'InventoryRetrieval', 'Succeeded', null]);
    assert.equal((vaultSent!.InventoryRetrievalParameters as { Format: string }).Format, 'CSV');

    // A job that fails is announced too: its archive's bytes are gone from the blob store.
    const vault = (await ts.server.meta.getVaultByName((await ts.server.meta.getAccountByKeyId(ROOT_ID))!.id, vaultName))!;
    for (const seg of await ts.server.meta.getSegments(archiveId!)) await ts.server.blobs.delete(seg.blobKey);
    const broken = await glacier.send(new InitiateJobCommand({
      accountId: '-', vaultName, jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId, SNSTopic: jobTopic },
    }));
    const all = await hook.waitFor('/job', 2);
    assert.deepEqual([all[1]!.JobId, all[1]!.StatusCode, all[1]!.Completed], [broken.jobId, 'Failed', true]);
    assert.equal(all[1]!.StatusMessage, (await ts.server.meta.getJob(vault.id, broken.jobId!, Date.now()))!.statusMessage);
    assert.equal(hook.received.get('/vault')!.length, 1, 'archive retrievals are not among the vault\'s events');
  } finally {
    glacier.destroy();
    await ts.close();
    await hook.close();
  }
});

test('shutting the server down cuts a notification still in flight (best effort, not durable)', async () => {
  const hook = await startHook();
  hook.hang.add('/slow');
  const topic = 'arn:aws:sns:us-east-1:012345678901:slow';
  const ts = await startServer({ notifySpecs: [`${topic}=${hook.url}/slow`] });
  const glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
  try {
    await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName: 'slow' }));
    await glacier.send(new InitiateJobCommand({ accountId: '-', vaultName: 'slow', jobParameters: { Type: 'inventory-retrieval', SNSTopic: topic } }));
    await hook.waitFor('/slow', 1);
    assert.equal(hook.abandoned(), 0);
    glacier.destroy();
    await ts.close();
    for (let i = 0; i < 100 && hook.abandoned() === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(hook.abandoned(), 1, 'the request in flight was closed by the server\'s shutdown');
    assert.equal(hook.received.get('/slow')!.length, 1, 'and not retried');
  } finally {
    glacier.destroy();
    await ts.close();
    await hook.close();
  }
});
