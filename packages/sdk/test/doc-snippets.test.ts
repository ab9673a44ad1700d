// Every TypeScript/JavaScript snippet of README.md and docs/*.md runs as pasted and exits
// by itself, against a real server. Pages are read at test time, so new snippets are
// covered without touching this file.
//
// The convention for snippets (fenced blocks whose info string starts with ts, typescript,
// js, javascript, mts or mjs):
// - The runnable blocks of one page are ONE program, run top to bottom, the way a reader
//   pastes them one after another into one file (like Python's doctest): a later block may
//   use what an earlier one declared, and names must not be declared twice on a page.
// - The program runs with tsx in a fresh empty directory, `@oas/sdk` resolving to this
//   workspace, with some bytes on standard input. Nothing in the code is rewritten.
// - The only placeholders are the endpoint and the key, which snippets read from the
//   environment variables oascmd reads, with the documented defaults:
//   `process.env.OAS_ACCESS_KEY_ID ?? '<AccessKeyId>'`, `OAS_ACCESS_KEY_SECRET`, `OAS_PORT`
//   (8080) on 127.0.0.1. The test sets them for its server.
// - A block that cannot run anywhere but a real deployment (it needs an interrupted upload,
//   an OSS bucket…) says so in its info string: ```ts no-run. Use it sparingly.
// - It must exit 0 on its own: a connection or timer left behind fails the test (the server
//   keeps idle connections for 10 minutes, far beyond the test's bound).
// - It must type-check, with the project's compiler options, against @oas/sdk's types.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { codeBlocks, markdownPages, REPO_ROOT, type CodeBlock } from './helpers/markdown.js';
import { startTestServer, KEY_ID, KEY_SECRET, type TestServer } from './helpers/ease-server.js';

const RUNNABLE = new Set(['ts', 'typescript', 'js', 'javascript', 'mts', 'mjs']);
/** Far above what any page needs (a few seconds), far below a leaked connection's 10 minutes. */
const BOUND_MS = 120_000;
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

let t: TestServer;
let work: string;

before(async () => {
  t = await startTestServer();
  // A connection a snippet fails to release then keeps its process alive for 10 minutes.
  t.server.app.server.keepAliveTimeout = 600_000;
  work = await mkdtemp(join(tmpdir(), 'oas-snippets-'));
  // `import … from '@oas/sdk'` resolves to this workspace's package, as in the repository.
  await mkdir(join(work, 'node_modules', '@oas'), { recursive: true });
  await symlink(join(REPO_ROOT, 'packages', 'sdk'), join(work, 'node_modules', '@oas', 'sdk'), 'dir');
});
after(async () => {
  await t?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function runnable(block: CodeBlock): boolean {
  return RUNNABLE.has(block.lang) && !block.flags.includes('no-run');
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs one page's program in `dir`; kills it after BOUND_MS. */
function runProgram(dir: string, file: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('OAS_')) env[k] = v;
    Object.assign(env, { OAS_ACCESS_KEY_ID: KEY_ID, OAS_ACCESS_KEY_SECRET: KEY_SECRET, OAS_PORT: String(t.server.port), OAS_HOST: '127.0.0.1' });
    const child = spawn(process.execPath, ['--conditions=source', '--import', TSX, file], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    // Some bytes on standard input, for snippets that archive it (`… | node upload.ts`).
    child.stdin.on('error', () => {});
    child.stdin.end(Buffer.alloc(100_000, 'standard input '));
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, BOUND_MS);
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, timedOut }); });
  });
}

const pages = markdownPages().map((page) => ({ page, blocks: codeBlocks(page).filter(runnable) }));

test('snippets are found: the README has runnable SDK snippets', () => {
  const readme = pages.find((p) => p.page === 'README.md');
  assert.ok(readme && readme.blocks.length >= 2, 'README.md has at least two ts blocks');
  assert.ok(readme.blocks.some((b) => /new OASAPI\(/.test(b.code)), 'one of them builds an OASAPI');
});

/** One page's program in a directory of its own: ESM (top-level await), @oas/sdk from the workspace. */
async function writeProgram(blocks: CodeBlock[]): Promise<{ dir: string; file: string; program: string }> {
  const dir = await mkdtemp(join(work, 'page-'));
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  await symlink(join(work, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const program = blocks.map((b) => `// ---- ${b.page}:${b.line}\n${b.code}\n`).join('\n');
  const typed = blocks.some((b) => b.lang.startsWith('t') || b.lang === 'mts');
  const file = join(dir, typed ? 'snippets.ts' : 'snippets.mjs');
  await writeFile(file, program);
  return { dir, file, program };
}

function numbered(program: string): string {
  return program.split('\n').map((l, i) => `${String(i + 1).padStart(4)}  ${l}`).join('\n');
}

for (const { page, blocks } of pages) {
  if (blocks.length === 0) continue;
  test(`${page}: its ${blocks.length} snippet(s) run as pasted, in order, and exit by themselves`, async () => {
    const { dir, file, program } = await writeProgram(blocks);
    const run = await runProgram(dir, file);
    const report = `\n--- program ---\n${numbered(program)}\n--- stdout ---\n${run.stdout.slice(-4000)}\n--- stderr ---\n${run.stderr.slice(-4000)}`;
    assert.equal(run.timedOut, false, `did not exit within ${BOUND_MS / 1000} s: a connection or timer is left behind${report}`);
    assert.equal(run.code, 0, `exit ${run.code ?? run.signal}${report}`);
  });
}

test('the TypeScript snippets type-check against @oas/sdk', async () => {
  const programs: Array<{ page: string; file: string; program: string }> = [];
  for (const { page, blocks } of pages) {
    const typed = blocks.filter((b) => b.lang.startsWith('t') || b.lang === 'mts');
    if (typed.length > 0) programs.push({ page, ...(await writeProgram(typed)) });
  }
  // The project's compiler options (tsconfig.check.json), @types/node from the workspace.
  const config = ts.readConfigFile(join(REPO_ROOT, 'tsconfig.check.json'), (path) => ts.sys.readFile(path));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, REPO_ROOT);
  const checker = ts.createProgram(programs.map((p) => p.file), {
    ...options, noEmit: true, typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
  });
  const problems: string[] = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(checker)) {
    const source = programs.find((p) => p.file === diagnostic.file?.fileName);
    if (diagnostic.file && !source) continue; // the SDK's own sources: npm run typecheck covers them
    const where = diagnostic.file && diagnostic.start !== undefined
      ? `${source!.page}, program line ${diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line + 1}: ` : '';
    problems.push(where + ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  }
  assert.deepEqual(problems, [], programs.map((p) => `--- ${p.page} ---\n${numbered(p.program)}`).join('\n'));
});
