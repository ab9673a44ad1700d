// Restarts, start-up cleanup and graceful shutdown of the in-process server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashBuffer, newId } from '@oas/sdk';
import { ManualClock } from './helpers/clock.js';
import { startServer, tempDir } from './helpers/server.js';
import { blobFiles, eventually, listFiles } from './helpers/assert.js';
import { pattern } from '../../sdk/test/helpers/pattern.js';
import { STORED_LEAF_FAMILIES } from '../src/store/blob/leaf-families.js';

const MIB = 1048576;

test('a job survives a restart: created before, completed after', async () => {
  const dataDir = await tempDir();
  try {
    const data = pattern(2 * MIB + 9);
    const first = await startServer({ dataDir, jobDelayMs: 1500 });
    let vault: string;
    let jobId: string;
    try {
      vault = await first.client.vaultId('restart');
      const archive = await first.client.archiveId(vault, data);
      jobId = await first.client.jobId(vault, { Type: 'archive-retrieval', ArchiveId: archive });
      assert.equal((await first.client.get(`/vaults/${vault}/jobs/${jobId}`)).json.StatusCode, 'InProgress');
    } finally {
      await first.stop();
    }
    const second = await startServer({ dataDir });
    try {
      const job = await second.client.waitJob(vault, jobId);
      assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
      const out = await second.client.get(`/vaults/${vault}/jobs/${jobId}/output`);
      assert.equal(out.status, 200);
      assert.ok(out.body.equals(data));
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a job running at shutdown hands its lease back and runs again at once after a restart', async () => {
  const dataDir = await tempDir();
  try {
    let started!: () => void;
    const running = new Promise<void>((resolve) => { started = resolve; });
    // A runner that only stops when the engine aborts it (shutdown).
    const first = await startServer({
      dataDir,
      runners: {
        'inventory-retrieval': (_job, ctx) => new Promise((_resolve, reject) => {
          started();
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        }),
      },
    });
    let vault: string;
    let jobId: string;
    try {
      vault = await first.client.vaultId('lease');
      jobId = await first.client.jobId(vault, { Type: 'inventory-retrieval' });
      await running;
    } finally {
      await first.stop();
    }
    // Lease 30 s by default: without the hand-back the job would wait that long.
    const second = await startServer({ dataDir });
    try {
      const job = await second.client.waitJob(vault, jobId, 10_000);
      assert.equal(job.StatusCode, 'Succeeded', job.StatusMessage);
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('start-up removes leftovers of interrupted writes and blobs no metadata refers to', async () => {
  const dataDir = await tempDir();
  try {
    const first = await startServer({ dataDir });
    let vault: string;
    let keep: string;
    try {
      vault = await first.client.vaultId('cleanup');
      keep = await first.client.archiveId(vault, Buffer.from('keep me'));
      // An orphan: a committed blob whose metadata never got written (a crash in between).
      const writer = await first.server.blobs.create();
      writer.stream.end(Buffer.from('orphan'));
      await new Promise((r) => writer.stream.once('finish', r));
      await writer.commit(Buffer.alloc(16));
    } finally {
      await first.stop();
    }
    // A temporary file of a write that never finished.
    await mkdir(join(dataDir, 'blobs', 'tmp'), { recursive: true });
    await writeFile(join(dataDir, 'blobs', 'tmp', newId()), 'partial');
    const second = await startServer({ dataDir });
    try {
      assert.ok(second.server.cleanup.leftovers >= 1);
      assert.equal(second.server.cleanup.orphans, 1);
      assert.equal((await listFiles(join(dataDir, 'blobs', 'tmp'))).length, 0);
      // Only the kept archive's blob (data + a leaves file per family) is left.
      assert.equal((await blobFiles(dataDir)).length, 1 + STORED_LEAF_FAMILIES.length);
      assert.equal((await second.client.get(`/vaults/${vault}/archives/${keep}/meta`)).status, 200);
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('graceful close: in-flight requests finish, unfinished uploads are cut after the grace and leave no files', async () => {
  const clock = new ManualClock();
  const s = await startServer({ clock });
  try {
    const vault = await s.client.vaultId('shutdown');
    const data = pattern(2 * MIB);
    const { etag, treeEtag } = hashBuffer(data);
    const head = s.client.rawHead('POST', `/vaults/${vault}/archives`, [
      ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(data.length)],
    ]);
    const socket = net.connect(s.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    socket.write(head);
    socket.write(data.subarray(0, MIB));
    // The upload is streaming into a temporary blob.
    await eventually(async () => (await listFiles(join(s.dataDir, 'blobs', 'tmp'))).length > 0);
    const closed = s.server.close(300);
    // The grace is over: the upload still streaming is cut.
    clock.advance(300);
    await closed;
    socket.destroy();
    assert.deepEqual(await listFiles(join(s.dataDir, 'blobs', 'tmp')), []);
    assert.deepEqual(await blobFiles(s.dataDir), []);
  } finally {
    await s.close();
  }
});

test('graceful close lets a request that finishes within the grace complete', async () => {
  // The clock stands still: the grace never runs out while the request completes.
  const s = await startServer({ clock: new ManualClock() });
  try {
    const vault = await s.client.vaultId('shutdown-ok');
    const data = pattern(MIB);
    const { etag, treeEtag } = hashBuffer(data);
    const head = s.client.rawHead('POST', `/vaults/${vault}/archives`, [
      ['x-oas-content-etag', etag], ['x-oas-tree-etag', treeEtag], ['Content-Length', String(data.length)],
    ]);
    const socket = net.connect(s.port, '127.0.0.1');
    let response = '';
    socket.on('data', (d: Buffer) => { response += d.toString('latin1'); });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    socket.write(head);
    socket.write(data.subarray(0, MIB / 2));
    await eventually(async () => (await listFiles(join(s.dataDir, 'blobs', 'tmp'))).length > 0);
    const closed = s.server.close(10_000);
    const ended = new Promise((r) => socket.on('close', r));
    socket.write(data.subarray(MIB / 2));
    await closed;
    await ended;
    assert.match(response, /^HTTP\/1\.1 201/);
    assert.match(response, /connection: close/i);
    assert.deepEqual(await listFiles(join(s.dataDir, 'blobs', 'tmp')), []);
    socket.destroy();
  } finally {
    await s.close();
  }
});
