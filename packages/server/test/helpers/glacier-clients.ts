// The three real Glacier client stacks the end-to-end tests drive: the AWS CLI, boto3 (client
// and resource API) and @aws-sdk/client-glacier. A missing Python client is installed with apt
// when the tests run as root; otherwise the tests fail with the command to run. Never a skip.
// Everything runs asynchronously: the server under test lives in this process.
import { spawn } from 'node:child_process';
import { GlacierClient } from '@aws-sdk/client-glacier';

export interface GlacierEndpoint {
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** Default us-east-1. */
  region?: string;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The longest any one client process may run; a hung client fails the test instead of hanging it. */
const PROCESS_TIMEOUT_MS = 120_000;

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: signal ? `${stderr}\n(killed by ${signal} after ${PROCESS_TIMEOUT_MS} ms)` : stderr });
    });
  });
}

async function works(command: string, args: readonly string[]): Promise<boolean> {
  try {
    return (await run(command, args, process.env)).code === 0;
  } catch {
    return false; // ENOENT: not installed
  }
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Installs Debian packages when running as root; otherwise throws with the command to run. */
async function aptInstall(packages: readonly string[], what: string): Promise<void> {
  const command = `apt-get update && apt-get install -y ${packages.join(' ')}`;
  if (!isRoot()) throw new Error(`${what} is missing and the tests are not running as root. Install it with:\n  sudo sh -c '${command}'`);
  const result = await run('sh', ['-c', command], { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
  if (result.code !== 0) throw new Error(`Installing ${what} failed (${command}):\n${result.stderr.slice(-2000)}`);
}

let awsCommand: Promise<string> | undefined;

/** The `aws` command (CLI v1 from pyenv's Python here, or Debian's awscli once installed). */
export function findAwsCli(): Promise<string> {
  awsCommand ??= (async () => {
    if (await works('aws', ['--version'])) return 'aws';
    await aptInstall(['awscli'], 'The AWS CLI');
    if (await works('/usr/bin/aws', ['--version'])) return '/usr/bin/aws';
    throw new Error('The AWS CLI is still missing after apt-get install awscli');
  })();
  return awsCommand;
}

let pythonCommand: Promise<string> | undefined;

/** A Python that can import boto3: pyenv's python3.11 here, else python3, else Debian's python3-boto3. */
export function findBoto3Python(): Promise<string> {
  pythonCommand ??= (async () => {
    for (const candidate of ['python3.11', 'python3']) {
      if (await works(candidate, ['-c', 'import boto3'])) return candidate;
    }
    await aptInstall(['python3-boto3'], 'boto3');
    if (await works('/usr/bin/python3', ['-c', 'import boto3'])) return '/usr/bin/python3';
    throw new Error('boto3 is still missing after apt-get install python3-boto3');
  })();
  return pythonCommand;
}

export function endpointUrl(endpoint: GlacierEndpoint): string {
  return `http://127.0.0.1:${endpoint.port}`;
}

/**
 * The environment of a Python client: only these credentials and region, no user config
 * files, no instance metadata lookups, no retries (a retried error would hide the first).
 */
function pythonClientEnv(endpoint: GlacierEndpoint): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return {
    ...env,
    AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
    AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
    AWS_DEFAULT_REGION: endpoint.region ?? 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_MAX_ATTEMPTS: '1',
    AWS_RETRY_MODE: 'standard',
    AWS_PAGER: '',
    GLACIER_ENDPOINT: endpointUrl(endpoint),
  };
}

/**
 * Runs `aws glacier <args> --endpoint-url ... --output json`. Both CLIs need `--account-id`
 * after the operation name; pass it in `args` (usually `--account-id -`).
 */
export async function runAwsGlacier(endpoint: GlacierEndpoint, args: readonly string[], cwd?: string): Promise<ProcessResult & { json(): unknown }> {
  const aws = await findAwsCli();
  const result = await run(aws, ['glacier', ...args, '--endpoint-url', endpointUrl(endpoint), '--output', 'json'], pythonClientEnv(endpoint), cwd);
  return { ...result, json: () => JSON.parse(result.stdout) as unknown };
}

/**
 * Python that runs before a boto3 script: `client` (boto3.client) and `glacier` (boto3.resource)
 * point at the endpoint, and `emit(obj)` prints one JSON line for the test to read.
 */
const BOTO3_PRELUDE = `
import json, os, sys
import boto3, botocore
from botocore.config import Config
_config = Config(retries={'total_max_attempts': 1, 'mode': 'standard'})
client = boto3.client('glacier', endpoint_url=os.environ['GLACIER_ENDPOINT'], config=_config)
glacier = boto3.resource('glacier', endpoint_url=os.environ['GLACIER_ENDPOINT'], config=_config)
def emit(obj):
    print(json.dumps(obj, default=str), flush=True)
`;

/** Runs a boto3 script (after BOTO3_PRELUDE); `lines()` parses what it emitted. */
export async function runBoto3(endpoint: GlacierEndpoint, script: string, cwd?: string): Promise<ProcessResult & { lines(): unknown[] }> {
  const python = await findBoto3Python();
  const result = await run(python, ['-c', `${BOTO3_PRELUDE}\n${script}`], pythonClientEnv(endpoint), cwd);
  return { ...result, lines: () => result.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown) };
}

/** An @aws-sdk/client-glacier client for the endpoint, without retries. */
export function glacierJsClient(endpoint: GlacierEndpoint): GlacierClient {
  return new GlacierClient({
    endpoint: endpointUrl(endpoint),
    region: endpoint.region ?? 'us-east-1',
    credentials: { accessKeyId: endpoint.accessKeyId, secretAccessKey: endpoint.secretAccessKey },
    maxAttempts: 1,
  });
}
