// docs/protocol.md against the code: every test vector and worked example in the document is
// read from it (the conventions are described at the top of the document) and checked with
// the SDK's implementation. Minimum counts make sure an edit cannot silently drop vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  MIB, OASAPI, ChecksumHasher, authorizationHeader, canonicalizeResource, combineTreeEtags, computeSignature,
  hashBuffer, isMibAligned, isTreeHashAligned, md5Hex, parseContentRange, parseQuery, parseRange, stringToSign,
  treeEtag, Job, type OASResponse,
} from '../src/index.js';
import { startRecordingServer } from './helpers/recording-server.js';
import { startTestServer } from './helpers/ease-server.js';
import { pattern } from './helpers/pattern.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOC = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
const LINES = DOC.split('\n');

// ---- reading the document -------------------------------------------------------------

interface Block { info: string; body: string; line: number }

/** Fenced code blocks with their info string (```http signed-request -> 'http signed-request'). */
function fencedBlocks(): Block[] {
  const blocks: Block[] = [];
  for (let i = 0; i < LINES.length; i++) {
    const open = /^```(.*)$/.exec(LINES[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < LINES.length && LINES[i] !== '```'; i++) body.push(LINES[i]!);
    assert.ok(i < LINES.length, `unclosed code block at line ${start + 1}`);
    blocks.push({ info: open[1]!.trim(), body: body.join('\n'), line: start + 1 });
  }
  return blocks;
}

interface VectorTable { args: string[]; rows: string[][]; line: number }

/** Cells of a table row, backticks removed. */
function cells(row: string): string[] {
  return row.replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim().replace(/`/g, ''));
}

/** Every table following `<!-- vectors: NAME args... -->`, header and separator dropped. */
function vectorTables(name: string): VectorTable[] {
  const tables: VectorTable[] = [];
  LINES.forEach((line, index) => {
    const m = /^<!-- vectors: (\S+)(.*?) -->$/.exec(line);
    if (!m || m[1] !== name) return;
    let i = index + 1;
    while (LINES[i]?.trim() === '') i++;
    const rows: string[][] = [];
    for (; LINES[i]?.startsWith('|'); i++) rows.push(cells(LINES[i]!));
    assert.ok(rows.length >= 2 && rows[1]!.every((c) => /^:?-+:?$/.test(c)),
      `vectors: ${name} at line ${index + 1} is not followed by a table`);
    tables.push({ args: m[2]!.trim().split(/\s+/).filter(Boolean), rows: rows.slice(2), line: index + 1 });
  });
  return tables;
}

function rowsOf(name: string, min: number): string[][] {
  const rows = vectorTables(name).flatMap((t) => t.rows);
  assert.ok(rows.length >= min, `docs/protocol.md has ${rows.length} "${name}" vectors, expected at least ${min}`);
  return rows;
}

/** The first number of a cell, commas allowed: "1,048,577 (1 MiB + 1)" -> 1048577. */
function bytes(cell: string): number {
  const m = /^[\d,]+/.exec(cell);
  assert.ok(m, `no byte count in "${cell}"`);
  return Number(m[0].replace(/,/g, ''));
}

function yesNo(cell: string): boolean {
  assert.ok(cell === 'yes' || cell === 'no', `expected yes or no, got "${cell}"`);
  return cell === 'yes';
}

const patterns = new Map<number, Buffer>();
function patternOf(length: number): Buffer {
  let data = patterns.get(length);
  if (!data) patterns.set(length, (data = pattern(length)));
  return data;
}

function leavesOf(data: Uint8Array): string[] {
  const leaves: string[] = [];
  new ChecksumHasher((digest) => leaves.push(digest.toString('hex').toUpperCase())).update(data).digest();
  return leaves;
}

// ---- §2 signatures --------------------------------------------------------------------------

test('§2.6: every worked signature example matches the SDK (string to sign, HMAC, Authorization)', () => {
  const creds = /AccessKeyId `([^`]+)`, AccessKeySecret\s+`([^`]+)`/.exec(DOC);
  assert.ok(creds, 'the example credentials are stated in §2.6');
  const [, id, secret] = creds;
  const blocks = fencedBlocks();
  const requests = blocks.filter((b) => b.info === 'http signed-request');
  const expected = blocks.filter((b) => b.info === 'text string-to-sign');
  const hmacs = [...DOC.matchAll(/^HMAC-SHA1 \(hex\): `([0-9a-f]+)`$/gm)].map((m) => m[1]!);
  assert.ok(requests.length >= 7, `at least 7 signature examples, found ${requests.length}`);
  assert.equal(expected.length, requests.length, 'one string-to-sign block per signed request');
  assert.equal(hmacs.length, requests.length, 'one HMAC-SHA1 (hex) line per signed request');

  requests.forEach((block, i) => {
    const where = `signed request at docs/protocol.md line ${block.line}`;
    assert.ok(expected[i]!.line > block.line && (requests[i + 1] === undefined || expected[i]!.line < requests[i + 1]!.line),
      `${where}: its string-to-sign block must follow it`);
    const [requestLine, ...headerLines] = block.body.split('\n');
    const m = /^(GET|PUT|POST|DELETE) (\S+) HTTP\/1\.1$/.exec(requestLine!);
    assert.ok(m, `${where}: bad request line "${requestLine}"`);
    const [, method, target] = m;
    const q = target!.indexOf('?');
    const path = q < 0 ? target! : target!.slice(0, q);
    const query = parseQuery(q < 0 ? '' : target!.slice(q + 1));
    const headers: Array<[string, string]> = [];
    let authorization: string | undefined;
    for (const line of headerLines) {
      const colon = line.indexOf(': ');
      assert.ok(colon > 0, `${where}: bad header line "${line}"`);
      const [name, value] = [line.slice(0, colon), line.slice(colon + 2)];
      if (name.toLowerCase() === 'authorization') authorization = value;
      else headers.push([name, value]);
    }
    assert.ok(authorization, `${where}: no Authorization header`);
    const sts = stringToSign(method!, headers, path, query);
    assert.equal(sts, expected[i]!.body, `${where}: string to sign`);
    const signature = computeSignature(secret!, sts);
    assert.equal(Buffer.from(signature, 'base64').toString('hex'), hmacs[i], `${where}: HMAC-SHA1`);
    assert.equal(authorizationHeader(id!, signature), authorization, `${where}: Authorization`);
  });
});

test('§2.4: canonical resources', () => {
  for (const [target, canonical] of rowsOf('canonical-resource', 10)) {
    const q = target!.indexOf('?');
    const path = q < 0 ? target! : target!.slice(0, q);
    assert.equal(canonicalizeResource(path, parseQuery(q < 0 ? '' : target!.slice(q + 1))), canonical, target);
  }
});

// ---- §3 etags ---------------------------------------------------------------------------------

test('§3.3: content etag, tree etag and leaf count of every vector', () => {
  for (const [kind, length, etag, tree, leaves] of rowsOf('etag', 11)) {
    const size = bytes(length!);
    const data = kind === 'empty' ? Buffer.alloc(0) : kind === 'ASCII abc' ? Buffer.from('abc') : kind === 'pattern' ? patternOf(size) : null;
    assert.ok(data, `unknown data "${kind}"`);
    assert.equal(data.length, size, `${kind} ${length}: length`);
    const sums = hashBuffer(data);
    assert.equal(sums.etag, etag, `${kind} ${length}: content etag`);
    assert.equal(sums.treeEtag, tree === '(empty string)' ? '' : tree, `${kind} ${length}: tree etag`);
    assert.equal(leavesOf(data).length, Number(leaves), `${kind} ${length}: leaves`);
  }
});

test('§3.3: the trees node by node', () => {
  const tables = vectorTables('tree-steps');
  assert.ok(tables.length >= 2, `at least 2 step-by-step trees, found ${tables.length}`);
  for (const { args, rows, line } of tables) {
    const data = patternOf(Number(args[0]));
    const sdkLeaves = leavesOf(data);
    const nodes = new Map<string, string>();
    let root: string | undefined;
    assert.ok(rows.length >= 7, `tree at line ${line}: at least 7 nodes`);
    for (const [name, from, value] of rows) {
      const where = `tree at line ${line}, node ${name}`;
      let m: RegExpExecArray | null;
      if ((m = /^bytes (\d+)-(\d+)$/.exec(from!))) {
        const [start, end] = [Number(m[1]), Number(m[2])];
        assert.equal(start % MIB, 0, `${where}: leaves start on a MiB boundary`);
        assert.equal(md5Hex(data.subarray(start, end + 1)), value, `${where}: MD5 of the block`);
        assert.equal(sdkLeaves[start / MIB], value, `${where}: the SDK's leaf`);
      } else if ((m = /^(\w+) \+ (\w+)$/.exec(from!))) {
        assert.ok(nodes.has(m[1]!) && nodes.has(m[2]!), `${where}: children defined above`);
        assert.equal(combineTreeEtags([nodes.get(m[1]!)!, nodes.get(m[2]!)!]), value, `${where}: parent`);
      } else if ((m = /^(\w+) carried up$/.exec(from!))) {
        assert.equal(nodes.get(m[1]!), value, `${where}: carried up unchanged`);
      } else {
        assert.fail(`${where}: cannot read "${from}"`);
      }
      nodes.set(name!, value!);
      if (name === 'root') root = value;
    }
    assert.equal(root, treeEtag(data), `tree at line ${line}: root = the SDK's tree etag`);
    assert.equal(combineTreeEtags(sdkLeaves), root);
  }
});

test('§3.3: the wrong constructions give the stated wrong values', () => {
  const tables = vectorTables('wrong-tree');
  assert.equal(tables.length, 1);
  const data = patternOf(Number(tables[0]!.args[0]));
  const raw: Buffer[] = [];
  for (let off = 0; off < data.length; off += MIB) raw.push(createHash('md5').update(data.subarray(off, off + MIB)).digest());
  // The wrong trees, built here without the SDK: pairwise, odd node carried up.
  const wrongTree = (parent: (a: Buffer, b: Buffer) => Buffer): Buffer => {
    let level = raw;
    while (level.length > 1) {
      const next: Buffer[] = [];
      for (let i = 0; i + 1 < level.length; i += 2) next.push(parent(level[i]!, level[i + 1]!));
      if (level.length % 2) next.push(level[level.length - 1]!);
      level = next;
    }
    return level[0]!;
  };
  const md5 = (b: Buffer | string) => createHash('md5').update(b).digest();
  const rows = tables[0]!.rows;
  assert.ok(rows.length >= 2);
  for (const [construction, value] of rows) {
    let wrong: string;
    if (/lower-case/.test(construction!)) wrong = wrongTree((a, b) => md5(a.toString('hex') + b.toString('hex'))).toString('hex');
    else if (/raw/.test(construction!)) wrong = wrongTree((a, b) => md5(Buffer.concat([a, b]))).toString('hex').toUpperCase();
    else assert.fail(`unknown construction "${construction}"`);
    assert.equal(wrong, value, construction);
    assert.notEqual(value!.toUpperCase(), treeEtag(data), `${construction}: differs from the right tree etag`);
  }
});

function partTreeEtags(data: Buffer, partSize: number): string[] {
  const out: string[] = [];
  for (let off = 0; off < data.length; off += partSize) out.push(treeEtag(data.subarray(off, off + partSize)));
  return out;
}

test('§3.4: combined part tree etags against the whole data', () => {
  for (const [archive, partSize, parts, combined, whole, equal] of rowsOf('multipart-combine', 5)) {
    const data = patternOf(bytes(archive!));
    const trees = partTreeEtags(data, bytes(partSize!));
    const where = `${archive} in ${partSize} parts`;
    assert.equal(trees.length, Number(parts), `${where}: parts`);
    assert.equal(combineTreeEtags(trees), combined, `${where}: combined`);
    assert.equal(treeEtag(data), whole, `${where}: whole`);
    assert.equal(combined === whole, yesNo(equal!), `${where}: equal column`);
  }
});

test('§3.4: the 200 MiB upload part by part', () => {
  const tables = vectorTables('multipart-parts');
  assert.equal(tables.length, 1);
  const data = patternOf(Number(tables[0]!.args[0]));
  const rows = tables[0]!.rows;
  assert.ok(rows.length >= 5);
  const trees: string[] = [];
  let next = 0;
  for (const [request, range, etag, tree] of rows) {
    if (request === 'complete') {
      assert.equal(range, `x-oas-archive-size: ${data.length}`);
      assert.equal(next, data.length, 'the parts cover the archive');
      assert.equal(combineTreeEtags(trees), tree, 'complete: combined tree etag');
      continue;
    }
    const r = parseContentRange(range);
    assert.ok(r, `${request}: Content-Range "${range}"`);
    assert.equal(r.start, next, `${request}: contiguous`);
    const sums = hashBuffer(data.subarray(r.start, r.end + 1));
    assert.deepEqual([sums.etag, sums.treeEtag], [etag, tree], request);
    trees.push(sums.treeEtag);
    next = r.end + 1;
  }
  assert.equal(trees.length, 4);
});

test('§3.5: MiB alignment and tree-hash alignment of ranges', () => {
  const tables = vectorTables('ranges');
  assert.equal(tables.length, 1);
  const size = Number(tables[0]!.args[0]);
  const rows = rowsOf('ranges', 14);
  for (const [text, mib, tree] of rows) {
    const range = parseRange(text);
    assert.ok(range, text);
    assert.equal(isMibAligned(range, size), yesNo(mib!), `${text}: MiB-aligned`);
    assert.equal(isTreeHashAligned(range, size), yesNo(tree!), `${text}: tree-hash aligned`);
  }
});

// ---- §4 and §7 ----------------------------------------------------------------------------

test('§4.14: the job bodies are exactly what OASAPI sends', async () => {
  const bodies = fencedBlocks().filter((b) => b.info === 'json job-body');
  assert.ok(bodies.length >= 4, `at least 4 job bodies, found ${bodies.length}`);
  const server = await startRecordingServer({ respond: () => ({ status: 202, headers: { 'x-oas-job-id': '6D2F5B8E0A1C4D7F9B3E2A5C8D0F1E4B' } }) });
  const api = new OASAPI('127.0.0.1', 'id', 'secret', { port: server.port });
  try {
    for (const [i, block] of bodies.entries()) {
      const f = JSON.parse(block.body) as Record<string, string>;
      const vault = '79D2D8F33B7C287037286185863B6823';
      const response = f.Type === 'pull-from-oss' || f.Type === 'push-to-oss'
        ? await api.createOssTransferJob(vault, f.Type, f.OSSHost!, f.Bucket!, f.Object!, f.ArchiveId, f.Description)
        : await api.createJob(vault, f.Type!, f.ArchiveId, f.Description, f.RetrievalByteRange);
      response.dispose();
      const recorded = await server.waitForRequest(i);
      await recorded.done;
      assert.equal(recorded.body?.toString('utf8'), block.body, `job body at docs/protocol.md line ${block.line}`);
    }
  } finally {
    api.close();
    await server.close();
  }
});

/** Keys and value types, recursively; an array by its first element. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) {
    assert.ok(value.length > 0, 'arrays in examples and answers must not be empty');
    return [shape(value[0])];
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shape((value as Record<string, unknown>)[k])]));
  }
  return value === null ? 'null' : typeof value;
}

test('§4 and §6: every JSON example has the shape of a real oas-server answer', async () => {
  const examples = fencedBlocks().filter((b) => b.info.startsWith('json ') && b.info !== 'json job-body');
  assert.ok(examples.length >= 7, `at least 7 JSON examples, found ${examples.length}`);
  const t = await startTestServer();
  try {
    const { api } = t;
    const json = async (call: Promise<OASResponse>, status = 200): Promise<unknown> => {
      const res = await call;
      assert.equal(res.status, status, `${res.status} ${await res.text().catch(() => '')}`);
      return res.json();
    };
    const header = async (call: Promise<OASResponse>, name: string): Promise<string> => {
      const res = await call;
      assert.ok(res.ok, `HTTP ${res.status}`);
      res.dispose();
      return res.getHeader(name)!;
    };
    const vaultId = await header(api.createVault('protocol-doc'), 'x-oas-vault-id');
    const abc = hashBuffer(Buffer.from('abc'));
    const archiveId = await header(api.postArchive(vaultId, 'abc', abc.etag, abc.treeEtag, 'backup 2014'), 'x-oas-archive-id');
    const uploadId = await header(api.createMultipartUpload(vaultId, MIB, 'big file'), 'x-oas-multipart-upload-id');
    const part = hashBuffer(patternOf(MIB));
    await header(api.postMultipart(vaultId, uploadId, patternOf(MIB), `0-${MIB - 1}`, part.etag, part.treeEtag), 'x-oas-request-id');
    const finished = async (type: 'archive-retrieval' | 'inventory-retrieval'): Promise<Job> => {
      const jobId = await header(type === 'archive-retrieval' ? api.createJob(vaultId, type, archiveId, 'restore') : api.createJob(vaultId, type), 'x-oas-job-id');
      return (await Job.get(api, vaultId, jobId)).wait({ pollInterval: 20 });
    };
    const retrieval = await finished('archive-retrieval');
    const inventory = await finished('inventory-retrieval');
    const answers: Record<string, () => Promise<unknown>> = {
      vault: () => json(api.getVaultDesc(vaultId)),
      'vault-list': () => json(api.listVault()),
      'archive-meta': () => json(api.headArchive(vaultId, archiveId)),
      'part-list': () => json(api.listMultipart(vaultId, uploadId)),
      job: () => json(api.getJobDesc(vaultId, retrieval.id)),
      inventory: () => json(api.fetchJobOutput(vaultId, inventory.id)),
      error: () => json(api.postArchive(vaultId, 'abc', abc.treeEtag.replace(/^9/, '8'), abc.treeEtag), 400),
    };
    const kinds = new Set<string>();
    for (const block of examples) {
      const kind = block.info.slice('json '.length);
      const where = `${kind} example at docs/protocol.md line ${block.line}`;
      assert.ok(answers[kind], `${where}: unknown kind`);
      let example: unknown;
      assert.doesNotThrow(() => { example = JSON.parse(block.body); }, where);
      assert.deepEqual(shape(example), shape(await answers[kind]!()), where);
      kinds.add(kind);
    }
    assert.deepEqual([...kinds].sort(), Object.keys(answers).sort(), 'an example of every kind');
  } finally {
    await t.close();
  }
});

test('§7.1: every OASAPI method is in the table, and every name in the table is an OASAPI method', () => {
  const rows = rowsOf('oasapi-methods', 21);
  const documented = rows.map((r) => r[1]!);
  const proto = OASAPI.prototype as unknown as Record<string, unknown>;
  for (const name of documented) assert.equal(typeof proto[name], 'function', `OASAPI.${name}`);
  const notOperations = new Set(['constructor', 'close', 'destroy', 'call', 'signed', 'protocol', 'agent']);
  const methods = Object.getOwnPropertyNames(OASAPI.prototype).filter((n) => !notOperations.has(n));
  assert.deepEqual([...methods].sort(), [...documented].sort());
});

// ---- the sections the code cites ----------------------------------------------------------

test('every "protocol.md §N" cited in the repository exists as a section', () => {
  const sections = new Set<string>();
  for (const line of LINES) {
    const m = /^#{2,3} (\d+(?:\.\d+)?)\.? /.exec(line);
    if (m) sections.add(m[1]!);
  }
  for (const n of ['1', '2', '3', '4', '5', '6', '7']) assert.ok(sections.has(n), `section ${n}`);
  const git = spawnSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(git.status, 0, `git ls-files failed: ${git.stderr}`);
  let cited = 0;
  for (const file of git.stdout.split('\0').filter((f) => /\.(ts|mjs|js|md)$/.test(f))) {
    const text = readFileSync(`${ROOT}${file}`, 'utf8');
    text.split('\n').forEach((line, i) => {
      if (!line.includes('protocol.md')) return;
      for (const m of line.matchAll(/§(\d+(?:\.\d+)?)/g)) {
        cited++;
        assert.ok(sections.has(m[1]!), `${file}:${i + 1} cites protocol.md §${m[1]}, which docs/protocol.md does not have`);
      }
    });
  }
  assert.ok(cited >= 40, `expected the code to cite protocol.md sections (found ${cited} citations)`);
});

// ---- exports named in prose -----------------------------------------------------------------

/** The identifiers in backticks of the paragraph starting with `start` (`f(a, b)` -> f). */
function namesInParagraph(text: string, start: string): string[] {
  const at = text.indexOf(start);
  assert.ok(at >= 0, `paragraph "${start}" not found`);
  const end = text.indexOf('\n\n', at);
  const paragraph = text.slice(at, end < 0 ? undefined : end);
  return [...paragraph.matchAll(/`([A-Za-z_$][\w$]*)[^`]*`/g)].map((m) => m[1]!).filter((n) => n !== 'oas' && !n.startsWith('@'));
}

test('the protocol functions named in README.md and protocol.md §7.1 are exports of @oas/sdk', async () => {
  const sdk = await import('../src/index.js') as Record<string, unknown>;
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const named = [
    ...namesInParagraph(readme, 'Protocol helpers (`@oas/sdk`'),
    ...namesInParagraph(DOC, 'The protocol functions of `@oas/sdk`'),
  ];
  assert.ok(named.length >= 30, `found only ${named.length} names`);
  for (const name of named) assert.ok(name in sdk, `${name} is not exported by @oas/sdk`);
});
