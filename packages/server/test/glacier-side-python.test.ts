// The Glacier side operations through boto3 (client and resource API) and the AWS CLI:
// tags, notification configuration, access policy and data-retrieval policy, with the
// error codes botocore raises. Against an in-process server on port 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_ACCOUNT_ID } from '../src/service/accounts.js';
import { awsAccountIdOf } from '../src/util/aws-identity.js';
import { runAwsGlacier, runBoto3, type GlacierEndpoint } from './helpers/glacier-clients.js';
import { ROOT_ID, ROOT_SECRET, startServer, type TestServer } from './helpers/server.js';

const ACCOUNT = awsAccountIdOf(ROOT_ACCOUNT_ID);
let ts: TestServer;
let endpoint: GlacierEndpoint;

before(async () => {
  ts = await startServer();
  endpoint = { port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET };
});

after(async () => {
  await ts?.close();
});

test('boto3: tags, notifications (client and resource API), access and data-retrieval policies', async () => {
  const result = await runBoto3(endpoint, `
def code_of(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
    return None

vault = glacier.Account('-').create_vault(vaultName='py-side')
r = client.add_tags_to_vault(vaultName='py-side', Tags={'owner': 'ann', 'tier': ''})
emit(r['ResponseMetadata']['HTTPStatusCode'])
client.remove_tags_from_vault(vaultName='py-side', TagKeys=['tier'])
emit(client.list_tags_for_vault(vaultName='py-side')['Tags'])
emit(code_of(lambda: client.add_tags_to_vault(vaultName='py-side', Tags={'k%d' % i: 'v' for i in range(50)})))
emit(code_of(lambda: client.list_tags_for_vault(vaultName='absent')))

topic = 'arn:aws:sns:us-east-1:${ACCOUNT}:py-jobs'
emit(code_of(lambda: client.get_vault_notifications(vaultName='py-side')))
client.set_vault_notifications(vaultName='py-side', vaultNotificationConfig={'SNSTopic': topic, 'Events': ['ArchiveRetrievalCompleted']})
emit(client.get_vault_notifications(vaultName='py-side')['vaultNotificationConfig'])
n = vault.Notification()
n.set(vaultNotificationConfig={'SNSTopic': topic, 'Events': ['InventoryRetrievalCompleted', 'ArchiveRetrievalCompleted']})
n.load()
emit([n.sns_topic, n.events])
n.delete()
emit(code_of(lambda: client.get_vault_notifications(vaultName='py-side')))

policy = json.dumps({'Version': '2012-10-17', 'Statement': [{'Effect': 'Deny', 'Principal': '*', 'Action': 'glacier:DeleteArchive', 'Resource': vault.vault_arn}]})
client.set_vault_access_policy(vaultName='py-side', policy={'Policy': policy})
emit(client.get_vault_access_policy(vaultName='py-side')['policy']['Policy'] == policy)
client.delete_vault_access_policy(vaultName='py-side')
emit(code_of(lambda: client.get_vault_access_policy(vaultName='py-side')))

emit(client.get_data_retrieval_policy()['Policy'])
client.set_data_retrieval_policy(Policy={'Rules': [{'Strategy': 'BytesPerHour', 'BytesPerHour': 1073741824}]})
emit(client.get_data_retrieval_policy(accountId='${ACCOUNT}')['Policy'])
emit(code_of(lambda: client.set_data_retrieval_policy(Policy={'Rules': [{'Strategy': 'Sometimes'}]})))
`);
  assert.equal(result.code, 0, result.stderr);
  const out = result.lines();
  const topic = `arn:aws:sns:us-east-1:${ACCOUNT}:py-jobs`;
  assert.deepEqual(out, [
    204,
    { owner: 'ann' },
    ['LimitExceededException', 400],
    ['ResourceNotFoundException', 404],
    ['ResourceNotFoundException', 404],
    { SNSTopic: topic, Events: ['ArchiveRetrievalCompleted'] },
    [topic, ['ArchiveRetrievalCompleted', 'InventoryRetrievalCompleted']],
    ['ResourceNotFoundException', 404],
    true,
    ['ResourceNotFoundException', 404],
    { Rules: [{ Strategy: 'None' }] },
    { Rules: [{ Strategy: 'BytesPerHour', BytesPerHour: 1073741824 }] },
    ['InvalidParameterValueException', 400],
  ]);
});

test('the AWS CLI: tags and notification configuration', async () => {
  const v = ['--account-id', '-', '--vault-name', 'cli-side'];
  const ok = async (args: string[]) => {
    const r = await runAwsGlacier(endpoint, args);
    assert.equal(r.code, 0, `aws glacier ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim() === '' ? null : r.json() as Record<string, unknown>;
  };
  await ok(['create-vault', ...v]);
  await ok(['add-tags-to-vault', ...v, '--tags', 'project=apollo,stage=']);
  assert.deepEqual(await ok(['list-tags-for-vault', ...v]), { Tags: { project: 'apollo', stage: '' } });
  await ok(['set-vault-notifications', ...v, '--vault-notification-config', `SNSTopic=arn:aws:sns:us-east-1:${ACCOUNT}:cli,Events=InventoryRetrievalCompleted`]);
  assert.deepEqual(await ok(['get-vault-notifications', ...v]), {
    vaultNotificationConfig: { SNSTopic: `arn:aws:sns:us-east-1:${ACCOUNT}:cli`, Events: ['InventoryRetrievalCompleted'] },
  });
  const bad = await runAwsGlacier(endpoint, ['add-tags-to-vault', ...v, '--tags', 'aws:reserved=x']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /InvalidParameterValueException.*reserved/);
});
