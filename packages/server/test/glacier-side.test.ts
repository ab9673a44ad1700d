// The Glacier side operations end to end: vault tags, notification configuration, access
// policy and data-retrieval policy through @aws-sdk/client-glacier against in-process servers
// on the embedded SQLite store and on PostgreSQL; then the validation errors on the wire.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  AddTagsToVaultCommand, CreateVaultCommand, DeleteVaultAccessPolicyCommand, DeleteVaultCommand,
  DeleteVaultNotificationsCommand, GetDataRetrievalPolicyCommand, GetVaultAccessPolicyCommand, GetVaultNotificationsCommand,
  ListTagsForVaultCommand, RemoveTagsFromVaultCommand, SetDataRetrievalPolicyCommand, SetVaultAccessPolicyCommand,
  SetVaultNotificationsCommand, type GlacierClient,
} from '@aws-sdk/client-glacier';
import { sha256Hex, signSigV4 } from '@oas/sdk';
import { awsAccountIdOf } from '../src/util/aws-identity.js';
import { ROOT_ACCOUNT_ID } from '../src/service/accounts.js';
import { glacierJsClient } from './helpers/glacier-clients.js';
import { startPostgres, type PostgresCluster } from './helpers/postgres.js';
import { ROOT_ID, ROOT_SECRET, startServer, type TestServer } from './helpers/server.js';

const ACCOUNT = awsAccountIdOf(ROOT_ACCOUNT_ID);
const TOPIC = `arn:aws:sns:us-east-1:${ACCOUNT}:archive-jobs`;
const POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Sid: 'read', Effect: 'Allow', Principal: '*', Action: ['glacier:InitiateJob'], Resource: `arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/x` }],
});

async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number }; message: string };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('the command succeeded');
}

/** The whole flow of the eleven operations, on whatever stores the server runs. */
function sideOperationsSuite(name: string, start: () => Promise<TestServer>): void {
  describe(`Glacier side operations through the JS SDK: ${name}`, () => {
    let ts: TestServer;
    let glacier: GlacierClient;
    before(async () => {
      ts = await start();
      glacier = glacierJsClient({ port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET });
    });
    after(async () => {
      glacier?.destroy();
      await ts?.close();
    });

    test('tags: add, overwrite, list, remove; 50 at most; bad keys and unknown vaults refused', async () => {
      const vaultName = 'tagged';
      await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
      const list = async () => (await glacier.send(new ListTagsForVaultCommand({ accountId: '-', vaultName }))).Tags;
      assert.deepEqual(await list(), {});
      const added = await glacier.send(new AddTagsToVaultCommand({ accountId: '-', vaultName, Tags: { owner: 'ann', empty: '', 'a b:c/d=e+f-g@h.i_j': 'ü' } }));
      assert.equal(added.$metadata.httpStatusCode, 204);
      assert.deepEqual(await list(), { owner: 'ann', empty: '', 'a b:c/d=e+f-g@h.i_j': 'ü' });
      await glacier.send(new AddTagsToVaultCommand({ accountId: ACCOUNT, vaultName, Tags: { owner: 'bob' } }));
      const removed = await glacier.send(new RemoveTagsFromVaultCommand({ accountId: '-', vaultName, TagKeys: ['empty', 'never-set'] }));
      assert.equal(removed.$metadata.httpStatusCode, 204);
      assert.deepEqual(await list(), { owner: 'bob', 'a b:c/d=e+f-g@h.i_j': 'ü' });

      // Up to 50: 48 more fit, one more does not, and a refused request changes nothing.
      const more = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`k${i}`, String(i)]));
      await glacier.send(new AddTagsToVaultCommand({ accountId: '-', vaultName, Tags: more }));
      assert.equal(Object.keys((await list())!).length, 50);
      const over = await failure(glacier.send(new AddTagsToVaultCommand({ accountId: '-', vaultName, Tags: { owner: 'eve', extra: 'x' } })));
      assert.deepEqual([over.name, over.status], ['LimitExceededException', 400]);
      assert.match(over.message, /more than 50 tags/);
      assert.equal((await list())!.owner, 'bob');
      // Replacing a value needs no room.
      await glacier.send(new AddTagsToVaultCommand({ accountId: '-', vaultName, Tags: { owner: 'eve' } }));
      assert.equal((await list())!.owner, 'eve');

      const reserved = await failure(glacier.send(new AddTagsToVaultCommand({ accountId: '-', vaultName, Tags: { 'aws:owner': 'x' } })));
      assert.deepEqual([reserved.name, reserved.status], ['InvalidParameterValueException', 400]);
      const long = await failure(glacier.send(new AddTagsToVaultCommand({ accountId: '-', vaultName, Tags: { k0: 'v'.repeat(257) } })));
      assert.equal(long.name, 'InvalidParameterValueException');
      assert.match(long.message, /0 to 256 characters/);
      const missing = await failure(glacier.send(new ListTagsForVaultCommand({ accountId: '-', vaultName: 'no-such-vault' })));
      assert.deepEqual([missing.name, missing.status], ['ResourceNotFoundException', 404]);
      assert.equal(missing.message, `Vault not found for ARN: arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/no-such-vault`);
    });

    test('notifications: 404 until set, echoed as set, deleted; a new vault of the same name starts bare', async () => {
      const vaultName = 'notified';
      await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
      const unset = await failure(glacier.send(new GetVaultNotificationsCommand({ accountId: '-', vaultName })));
      assert.deepEqual([unset.name, unset.status], ['ResourceNotFoundException', 404]);
      assert.match(unset.message, /No notification configuration is set for the vault: arn:aws:glacier:us-east-1:\d{12}:vaults\/notified/);
      const set = await glacier.send(new SetVaultNotificationsCommand({
        accountId: '-', vaultName, vaultNotificationConfig: { SNSTopic: TOPIC, Events: ['InventoryRetrievalCompleted', 'ArchiveRetrievalCompleted'] },
      }));
      assert.equal(set.$metadata.httpStatusCode, 204);
      const got = await glacier.send(new GetVaultNotificationsCommand({ accountId: '-', vaultName }));
      assert.deepEqual(got.vaultNotificationConfig, { SNSTopic: TOPIC, Events: ['ArchiveRetrievalCompleted', 'InventoryRetrievalCompleted'] });
      const bad = await failure(glacier.send(new SetVaultNotificationsCommand({
        accountId: '-', vaultName, vaultNotificationConfig: { SNSTopic: TOPIC, Events: ['ArchiveUploaded'] },
      })));
      assert.deepEqual([bad.name, bad.status], ['InvalidParameterValueException', 400]);
      const deleted = await glacier.send(new DeleteVaultNotificationsCommand({ accountId: '-', vaultName }));
      assert.equal(deleted.$metadata.httpStatusCode, 204);
      assert.equal((await failure(glacier.send(new GetVaultNotificationsCommand({ accountId: '-', vaultName })))).status, 404);

      // Deleting the vault takes its settings and tags along.
      await glacier.send(new SetVaultNotificationsCommand({ accountId: '-', vaultName, vaultNotificationConfig: { SNSTopic: TOPIC, Events: [] } }));
      await glacier.send(new AddTagsToVaultCommand({ accountId: '-', vaultName, Tags: { k: 'v' } }));
      await glacier.send(new DeleteVaultCommand({ accountId: '-', vaultName }));
      await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
      assert.equal((await failure(glacier.send(new GetVaultNotificationsCommand({ accountId: '-', vaultName })))).status, 404);
      assert.deepEqual((await glacier.send(new ListTagsForVaultCommand({ accountId: '-', vaultName }))).Tags, {});
    });

    test('access policy: stored and returned as sent (not enforced); 404 when unset; delete is idempotent', async () => {
      const vaultName = 'guarded';
      await glacier.send(new CreateVaultCommand({ accountId: '-', vaultName }));
      const unset = await failure(glacier.send(new GetVaultAccessPolicyCommand({ accountId: '-', vaultName })));
      assert.deepEqual([unset.name, unset.status], ['ResourceNotFoundException', 404]);
      const set = await glacier.send(new SetVaultAccessPolicyCommand({ accountId: '-', vaultName, policy: { Policy: POLICY } }));
      assert.equal(set.$metadata.httpStatusCode, 204);
      assert.equal((await glacier.send(new GetVaultAccessPolicyCommand({ accountId: '-', vaultName }))).policy?.Policy, POLICY);
      const notJson = await failure(glacier.send(new SetVaultAccessPolicyCommand({ accountId: '-', vaultName, policy: { Policy: 'allow all' } })));
      assert.deepEqual([notJson.name, notJson.status], ['InvalidParameterValueException', 400]);
      const huge = await failure(glacier.send(new SetVaultAccessPolicyCommand({
        accountId: '-', vaultName, policy: { Policy: JSON.stringify({ pad: 'x'.repeat(21 * 1024) }) },
      })));
      assert.match(huge.message, /larger than 20480 bytes/);
      for (let i = 0; i < 2; i++) {
        const del = await glacier.send(new DeleteVaultAccessPolicyCommand({ accountId: '-', vaultName }));
        assert.equal(del.$metadata.httpStatusCode, 204);
      }
      assert.equal((await failure(glacier.send(new GetVaultAccessPolicyCommand({ accountId: '-', vaultName })))).status, 404);
    });

    test('data-retrieval policy: None by default, one rule, BytesPerHour only with its strategy', async () => {
      const initial = await glacier.send(new GetDataRetrievalPolicyCommand({ accountId: '-' }));
      assert.deepEqual(initial.Policy, { Rules: [{ Strategy: 'None' }] });
      const set = await glacier.send(new SetDataRetrievalPolicyCommand({ accountId: '-', Policy: { Rules: [{ Strategy: 'BytesPerHour', BytesPerHour: 10737418240 }] } }));
      assert.equal(set.$metadata.httpStatusCode, 204);
      assert.deepEqual((await glacier.send(new GetDataRetrievalPolicyCommand({ accountId: ACCOUNT }))).Policy,
        { Rules: [{ Strategy: 'BytesPerHour', BytesPerHour: 10737418240 }] });
      const noBytes = await failure(glacier.send(new SetDataRetrievalPolicyCommand({ accountId: '-', Policy: { Rules: [{ Strategy: 'BytesPerHour' }] } })));
      assert.deepEqual([noBytes.name, noBytes.status], ['InvalidParameterValueException', 400]);
      const extra = await failure(glacier.send(new SetDataRetrievalPolicyCommand({ accountId: '-', Policy: { Rules: [{ Strategy: 'FreeTier', BytesPerHour: 5 }] } })));
      assert.equal(extra.name, 'InvalidParameterValueException');
      await glacier.send(new SetDataRetrievalPolicyCommand({ accountId: '-', Policy: { Rules: [{ Strategy: 'FreeTier' }] } }));
      assert.deepEqual((await glacier.send(new GetDataRetrievalPolicyCommand({ accountId: '-' }))).Policy, { Rules: [{ Strategy: 'FreeTier' }] });
      const foreign = await failure(glacier.send(new GetDataRetrievalPolicyCommand({ accountId: '999999999999' })));
      assert.deepEqual([foreign.name, foreign.status], ['AccessDeniedException', 403]);
    });
  });
}

sideOperationsSuite('sqlite', () => startServer());

let cluster: PostgresCluster | null = null;
sideOperationsSuite('postgres', async () => {
  cluster = await startPostgres();
  const url = await cluster.createDatabase(`glacier_side_${process.pid}`);
  return startServer({ metadataUri: url });
});
after(async () => {
  await cluster?.stop();
});

// ---------------------------------------------------------------- the wire

describe('Glacier side operations on the wire', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startServer();
  });
  after(async () => {
    await ts?.close();
  });

  /** A signed request without x-amz-content-sha256 (as botocore sends JSON bodies): the server hashes the body. */
  function raw(method: string, path: string, query: string, body = ''): Promise<{ status: number; text: string; json: Record<string, unknown> }> {
    const bytes = Buffer.from(body);
    const headers: Record<string, string> = { host: `127.0.0.1:${ts.port}`, 'x-amz-glacier-version': '2012-06-01', 'content-length': String(bytes.length) };
    Object.assign(headers, signSigV4({ method, path, query, headers: Object.entries(headers) }, { accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET },
      { region: 'us-east-1', payloadHash: sha256Hex(bytes), sendPayloadHash: false }));
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: ts.port, method, path: query ? `${path}?${query}` : path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, text, json: text ? JSON.parse(text) as Record<string, unknown> : {} });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(bytes);
    });
  }

  test('tags need ?operation=add or remove; exact statuses and bodies', async () => {
    assert.equal((await raw('PUT', '/-/vaults/wire', '')).status, 201);
    const none = await raw('POST', '/-/vaults/wire/tags', '', '{"Tags":{"a":"1"}}');
    assert.deepEqual([none.status, none.json.code], [400, 'BadRequest']);
    const other = await raw('POST', '/-/vaults/wire/tags', 'operation=replace', '{"Tags":{"a":"1"}}');
    assert.deepEqual([other.status, other.json.code], [400, 'BadRequest']);
    const add = await raw('POST', '/-/vaults/wire/tags', 'operation=add', '{"Tags":{"a":"1","__proto__":"p"}}');
    assert.deepEqual([add.status, add.text], [204, '']);
    const list = await raw('GET', '/-/vaults/wire/tags', '');
    assert.equal(list.status, 200);
    assert.equal(list.text, '{"Tags":{"__proto__":"p","a":"1"}}');
    const remove = await raw('POST', '/-/vaults/wire/tags', 'operation=remove', '{"TagKeys":["__proto__"]}');
    assert.equal(remove.status, 204);
    assert.equal((await raw('GET', '/-/vaults/wire/tags', '')).text, '{"Tags":{"a":"1"}}');
  });

  test('validation: malformed JSON, wrong types, bad keys, missing fields; never a 5xx', async () => {
    const cases: Array<[string, string, string, string, number, string, RegExp]> = [
      ['POST', '/-/vaults/wire/tags', 'operation=add', '{"Tags":', 400, 'SerializationException', /not valid JSON/],
      ['POST', '/-/vaults/wire/tags', 'operation=add', '[1]', 400, 'SerializationException', /JSON object/],
      ['POST', '/-/vaults/wire/tags', 'operation=add', '{"Tags":["a"]}', 400, 'SerializationException', /Tags must be/],
      ['POST', '/-/vaults/wire/tags', 'operation=add', '{"Tags":{"a":1}}', 400, 'SerializationException', /must be a string/],
      ['POST', '/-/vaults/wire/tags', 'operation=add', '{"Tags":{"":"v"}}', 400, 'InvalidParameterValueException', /1 to 128/],
      ['POST', '/-/vaults/wire/tags', 'operation=add', `{"Tags":{"${'k'.repeat(129)}":"v"}}`, 400, 'InvalidParameterValueException', /1 to 128/],
      ['POST', '/-/vaults/wire/tags', 'operation=add', '{"Tags":{"a\\u0000b":"v"}}', 400, 'InvalidParameterValueException', /letters, digits/],
      ['POST', '/-/vaults/wire/tags', 'operation=add', '{"Tags":{"AWS:x":"v"}}', 400, 'InvalidParameterValueException', /reserved/],
      ['POST', '/-/vaults/wire/tags', 'operation=remove', '{"TagKeys":"a"}', 400, 'SerializationException', /TagKeys must be/],
      ['PUT', '/-/vaults/wire/notification-configuration', '', '{"Events":[]}', 400, 'MissingParameterValueException', /SNSTopic/],
      ['PUT', '/-/vaults/wire/notification-configuration', '', '{"SNSTopic":"topic"}', 400, 'InvalidParameterValueException', /SNS topic ARN/],
      ['PUT', '/-/vaults/wire/notification-configuration', '', `{"SNSTopic":"${TOPIC}","Events":"ArchiveRetrievalCompleted"}`, 400, 'SerializationException', /Events/],
      ['PUT', '/-/vaults/wire/access-policy', '', '{}', 400, 'MissingParameterValueException', /Policy/],
      ['PUT', '/-/vaults/wire/access-policy', '', '{"Policy":{"Version":"2012-10-17"}}', 400, 'SerializationException', /string/],
      ['PUT', '/-/policies/data-retrieval', '', '{"Policy":{"Rules":[]}}', 400, 'InvalidParameterValueException', /exactly one rule/],
      ['PUT', '/-/policies/data-retrieval', '', '{"Policy":{"Rules":[{"Strategy":"Fast"}]}}', 400, 'InvalidParameterValueException', /Invalid Strategy/],
      ['PUT', '/-/policies/data-retrieval', '', '{"Policy":{"Rules":[{"Strategy":"BytesPerHour","BytesPerHour":-1}]}}', 400, 'InvalidParameterValueException', /at least 1/],
      ['PUT', '/-/vaults/absent/access-policy', '', `{"Policy":${JSON.stringify(POLICY)}}`, 404, 'ResourceNotFoundException', /Vault not found/],
    ];
    for (const [method, path, query, body, status, code, message] of cases) {
      const res = await raw(method, path, query, body);
      assert.equal(res.status, status, `${method} ${path}?${query} ${body}: ${res.text}`);
      assert.equal(res.json.code, code, `${method} ${path} ${body}`);
      assert.equal(res.json.type, 'Client');
      assert.match(String(res.json.message), message, `${method} ${path} ${body}`);
    }
    // A policy body over the small-body bound is refused without being read whole.
    const big = await raw('PUT', '/-/vaults/wire/access-policy', '', `{"Policy":"${'x'.repeat(70 * 1024)}"}`);
    assert.deepEqual([big.status, big.json.code], [400, 'InvalidParameterValueException']);
    // Nothing was stored by the refused requests.
    assert.equal((await raw('GET', '/-/vaults/wire/notification-configuration', '')).status, 404);
    assert.equal((await raw('GET', '/-/vaults/wire/access-policy', '')).status, 404);
  });

  test('notification configuration JSON is exactly AWS\'s shape', async () => {
    const set = await raw('PUT', '/-/vaults/wire/notification-configuration', '', `{"SNSTopic":"${TOPIC}","Events":["ArchiveRetrievalCompleted"]}`);
    assert.deepEqual([set.status, set.text], [204, '']);
    const got = await raw('GET', '/-/vaults/wire/notification-configuration', '');
    assert.equal(got.status, 200);
    assert.equal(got.text, `{"SNSTopic":"${TOPIC}","Events":["ArchiveRetrievalCompleted"]}`);
    const policy = await raw('GET', '/-/policies/data-retrieval', '');
    assert.equal(policy.text, '{"Policy":{"Rules":[{"Strategy":"None"}]}}');
  });
});
