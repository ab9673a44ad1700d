// The errors clients match on, as the AWS CLI and boto3 show them (the JS SDK's are in
// glacier-sdk.test.ts): unknown vault, wrong tree hash (nothing stored), bad signature and
// foreign account id, each with its Glacier code, HTTP status and message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeHash } from '@oas/sdk';
import { ROOT_ACCOUNT_ID } from '../src/service/accounts.js';
import { awsAccountIdOf } from '../src/util/aws-identity.js';
import { runAwsGlacier, runBoto3, type GlacierEndpoint } from './helpers/glacier-clients.js';
import { ROOT_ID, ROOT_SECRET, startServer, type TestServer } from './helpers/server.js';

const ACCOUNT = awsAccountIdOf(ROOT_ACCOUNT_ID);
const FOREIGN = ACCOUNT === '123456789012' ? '210987654321' : '123456789012';
const BODY = Buffer.from('the bytes of a small archive\n'.repeat(100));
const WRONG = treeHash(Buffer.from('other bytes'));
let ts: TestServer;
let endpoint: GlacierEndpoint;
let dir: string;

before(async () => {
  ts = await startServer();
  endpoint = { port: ts.port, accessKeyId: ROOT_ID, secretAccessKey: ROOT_SECRET };
  dir = await mkdtemp(join(tmpdir(), 'glacier-errors-'));
  await writeFile(join(dir, 'body.bin'), BODY);
});

after(async () => {
  await ts?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the AWS CLI: unknown vault, wrong tree hash, bad signature, foreign account id', async () => {
  const missing = await runAwsGlacier(endpoint, ['describe-vault', '--account-id', '-', '--vault-name', 'nope'], dir);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, new RegExp(`\\(ResourceNotFoundException\\).*Vault not found for ARN: arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/nope`));

  const made = await runAwsGlacier(endpoint, ['create-vault', '--account-id', '-', '--vault-name', 'cli-errors'], dir);
  assert.equal(made.code, 0, made.stderr);
  const wrong = await runAwsGlacier(endpoint, ['upload-archive', '--account-id', '-', '--vault-name', 'cli-errors', '--body', 'body.bin', '--checksum', WRONG], dir);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /\(InvalidParameterValueException\)/);
  assert.ok(wrong.stderr.includes(`Checksum mismatch: expected ${WRONG}, computed ${treeHash(BODY)}`), wrong.stderr);
  const vault = await runAwsGlacier(endpoint, ['describe-vault', '--account-id', '-', '--vault-name', 'cli-errors'], dir);
  assert.equal((vault.json() as { NumberOfArchives: number }).NumberOfArchives, 0, 'nothing stored');

  const forged = await runAwsGlacier({ ...endpoint, secretAccessKey: 'not-the-secret' }, ['list-vaults', '--account-id', '-'], dir);
  assert.notEqual(forged.code, 0);
  assert.match(forged.stderr, /\(InvalidSignatureException\).*The request signature we calculated does not match the signature you provided/);

  const foreign = await runAwsGlacier(endpoint, ['list-vaults', '--account-id', FOREIGN], dir);
  assert.notEqual(foreign.code, 0);
  assert.match(foreign.stderr, /\(AccessDeniedException\)/);
});

test('boto3: unknown vault, wrong tree hash, bad signature, foreign account id', async () => {
  const result = await runBoto3(endpoint, `
from botocore.exceptions import ClientError
def error_of(call):
    try:
        call()
    except ClientError as e:
        return [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Message']]
    return 'no error'
emit(error_of(lambda: client.describe_vault(vaultName='nope')))
client.create_vault(vaultName='boto-errors')
emit(error_of(lambda: client.upload_archive(vaultName='boto-errors', body=open('body.bin', 'rb').read(), checksum='${WRONG}')))
emit(client.describe_vault(vaultName='boto-errors')['NumberOfArchives'])
forged = boto3.client('glacier', endpoint_url=os.environ['GLACIER_ENDPOINT'], config=_config,
    aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'], aws_secret_access_key='not-the-secret')
emit(error_of(lambda: forged.list_vaults())[:2])
emit(error_of(lambda: client.list_vaults(accountId='${FOREIGN}'))[:2])
# The resource API raises the same.
emit(error_of(lambda: glacier.Vault('-', 'nope').load())[:2])
`, dir);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.lines(), [
    ['ResourceNotFoundException', 404, `Vault not found for ARN: arn:aws:glacier:us-east-1:${ACCOUNT}:vaults/nope`],
    ['InvalidParameterValueException', 400, `Checksum mismatch: expected ${WRONG}, computed ${treeHash(BODY)}`],
    0,
    ['InvalidSignatureException', 403],
    ['AccessDeniedException', 403],
    ['ResourceNotFoundException', 404],
  ]);
});
