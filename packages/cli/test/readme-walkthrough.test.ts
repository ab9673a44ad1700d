// The README's walk-through, command by command, read from the README at test time:
// `oascmd config` with the placeholders of the README, create a vault, upload a file,
// retrieve it, fetch it with --wait, compare etags and bytes. What stands in for the
// reader's own setup: the in-process server replaces `npm start` (port 0 instead of
// 8080), the generated file is 3 MiB instead of 3G, and the ids the README abbreviates
// (`7421...`) are the ones the previous commands printed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { codeBlocks } from '../../sdk/test/helpers/markdown.js';
import { ACCESS_ID, ACCESS_KEY, startHarness, type Harness, type RunResult } from './helpers/cli.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

/** The walk-through block: the README's shell block that configures oascmd. */
function walkthrough(): string[] {
  const block = codeBlocks('README.md').find((b) => ['sh', 'bash', 'shell', 'console'].includes(b.lang) && /oascmd config /.test(b.code));
  assert.ok(block, 'README.md has a shell block with `oascmd config`');
  // One command per line or per `;`, comments dropped.
  return block.code.split('\n').flatMap((line) => line.replace(/(^|\s)#.*$/, '').split(';')).map((c) => c.trim()).filter(Boolean);
}

test('the README walk-through runs: config, cv, upload, createjob, fetch --wait, fileetag, cmp', async () => {
  const cwd = join(h.dir, 'walkthrough');
  const home = join(h.dir, 'walkthrough-home');
  await mkdir(cwd);
  await mkdir(home);
  const ids: { archive?: string; job?: string } = {};
  const etags: string[] = [];
  const ran: string[] = [];
  for (const command of walkthrough()) {
    const words = command.split(/\s+/);
    if (words[0] === 'npm') continue; // the harness's server is already running
    if (words[0] === 'head') {
      // head -c <size> /dev/urandom > <file>
      const file = words[words.indexOf('>') + 1];
      assert.ok(file && words[1] === '-c' && words[3] === '/dev/urandom', `unexpected: ${command}`);
      await writeFile(join(cwd, file), randomBytes(3 * 1024 * 1024 + 5));
      ran.push('head');
      continue;
    }
    if (words[0] === 'cmp') {
      assert.equal(words.length, 3, command);
      assert.ok((await readFile(join(cwd, words[1]!))).equals(await readFile(join(cwd, words[2]!))), `${command}: the files differ`);
      ran.push('cmp');
      continue;
    }
    assert.deepEqual(words.slice(0, 2), ['npx', 'oascmd'], `a walk-through command this test does not know: ${command}`);
    assert.doesNotMatch(command.replace(/<AccessKey(Id|Secret)>/g, ''), /["'`$|&<>]/, `quoting or shell syntax this test does not handle: ${command}`);
    const args = words.slice(2).map((word, i, all) => {
      if (word === '<AccessKeyId>') return ACCESS_ID;
      if (word === '<AccessKeySecret>') return ACCESS_KEY;
      if (all[i - 1] === '--port') return String(h.server.port);
      // An abbreviated id: the one the README's previous command printed.
      if (/^[0-9A-F]+\.\.\.$/.test(word)) {
        const id = all[0] === 'createjob' ? ids.archive : all[0] === 'fetch' ? ids.job : undefined;
        assert.ok(id, `no id printed before for ${word} in: ${command}`);
        return id;
      }
      return word;
    });
    const r: RunResult = await h.run(args, { cwd, env: { HOME: home } });
    assert.equal(r.code, 0, `${command}\n${r.stdout}${r.stderr}`);
    ids.archive = /Archive ID: ([0-9A-F]{32})/.exec(r.stdout)?.[1] ?? ids.archive;
    ids.job = /job ID: ([0-9A-F]{32})/.exec(r.stdout)?.[1] ?? ids.job;
    if (args[0] === 'fileetag') etags.push(r.stdout);
    ran.push(args[0]!);
  }
  for (const step of ['config', 'cv', 'head', 'upload', 'createjob', 'fetch', 'fileetag', 'cmp']) {
    assert.ok(ran.includes(step), `the walk-through ran ${step} (ran: ${ran.join(', ')})`);
  }
  assert.equal(etags.length, 2);
  assert.equal(etags[0], etags[1], 'identical etag and tree_etag');
});
