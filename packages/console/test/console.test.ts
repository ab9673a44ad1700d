// The web console in a real browser (headless Debian Chromium through playwright-core)
// against a real in-process oas-server: the everyday flow and the errors a user meets.
// Screenshots go under the test's temp dir, or to $OAS_CONSOLE_SHOTS (npm run console:shots).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildConsole } from '../build.mjs';
import { ROOT_ID, ROOT_SECRET, startServer, tempDir, type TestServer } from '../../server/test/helpers/server.js';
import { prng } from '../../server/test/helpers/prng.js';
import { corruptBlobByte } from '../../server/test/helpers/backends.js';
import { launch, screenshots } from './browser.js';

const MIB = 1024 * 1024;
const WAIT = { timeout: 60_000 };

let ts: TestServer;
let browser: Browser;
let work: string;
let shotsRoot: string;

function randomFile(size: number, seed: number): Buffer {
  const next = prng(seed);
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) buf.writeUInt32LE(Math.floor(next() * 2 ** 32), i);
  return buf;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  await buildConsole();
  work = await tempDir('oas-console-test-');
  shotsRoot = process.env.OAS_CONSOLE_SHOTS ? resolve(process.env.OAS_CONSOLE_SHOTS) : join(work, 'screenshots');
  ts = await startServer({ maxVaults: 3 });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await ts?.close();
  if (!process.env.OAS_CONSOLE_SHOTS) console.log(`console screenshots: ${shotsRoot} (removed; set OAS_CONSOLE_SHOTS to keep them)`);
  await rm(work, { recursive: true, force: true });
});

async function openPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, locale: 'en-GB' });
  const page = await context.newPage();
  page.on('dialog', (d) => { void d.accept(); });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${ts.server.url}/console/`);
  return { context, page };
}

async function signIn(page: Page, secret = ROOT_SECRET): Promise<void> {
  await page.getByLabel('AccessKeyId').fill(ROOT_ID);
  await page.getByLabel('AccessKeySecret').fill(secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function createVault(page: Page, name: string): Promise<void> {
  await page.getByLabel('New vault name').fill(name);
  await page.getByRole('button', { name: 'Create vault' }).click();
  await page.locator(`tr[data-vault="${name}"]`).waitFor(WAIT);
}

async function uploadFile(page: Page, path: string, description: string): Promise<void> {
  await page.getByLabel('Description (optional)').fill(description);
  await page.locator('#upload-file').setInputFiles(path);
  await page.getByText(/Uploaded as archive/).waitFor(WAIT);
}

/** Clicks a job's Download, saves the verified file and returns its bytes. */
async function downloadJob(page: Page, jobId: string): Promise<Buffer> {
  await page.locator(`tr[data-job="${jobId}"]`).getByRole('button', { name: /^Download/ }).click();
  const link = page.locator(`a[data-save="${jobId}"]`);
  await link.waitFor(WAIT);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const target = join(work, `download-${jobId}`);
  await download.saveAs(target);
  return readFile(target);
}

describe('console: the everyday flow', () => {
  let page: Page;
  let context: BrowserContext;
  const shot = () => screenshots(join(shotsRoot, 'flow'));
  let save: ReturnType<typeof shot>;
  const small = randomFile(5 * MIB, 1);
  const large = randomFile(40 * MIB, 2);

  before(async () => {
    ({ page, context } = await openPage());
    save = shot();
    await writeFile(join(work, 'five.bin'), small);
    await writeFile(join(work, 'forty.bin'), large);
  });
  after(async () => { await context.close(); });

  test('sign in and create a vault', async () => {
    await save(page, 'sign-in');
    await signIn(page);
    await page.getByRole('heading', { name: 'Vaults' }).waitFor(WAIT);
    await createVault(page, 'photos');
    await save(page, 'vaults');
  });

  test('upload a 5 MiB file in one request, then a 40 MiB file as multipart', async () => {
    await page.locator('tr[data-vault="photos"] a').click();
    await page.getByRole('tab', { name: 'Upload', exact: true }).click();
    await uploadFile(page, join(work, 'five.bin'), 'five mebibytes');
    await uploadFile(page, join(work, 'forty.bin'), 'forty mebibytes');
    assert.match(await page.locator('.progress-text').last().innerText(), /40\.0 MiB \/ 40\.0 MiB \(100%\) · 5\/5 parts/);
    await save(page, 'upload-done');
  });

  test('refresh the inventory and see both archives', async () => {
    await page.getByRole('tab', { name: 'Archives' }).click();
    await page.getByRole('button', { name: 'Refresh inventory' }).click();
    await page.getByText('Inventory ready.').waitFor(WAIT);
    const rows = page.locator('tr[data-archive]');
    assert.equal(await rows.count(), 2);
    assert.deepEqual((await page.locator('td.desc').allInnerTexts()).sort(), ['five mebibytes', 'forty mebibytes']);
    await page.getByLabel('Search archives').fill('forty');
    assert.equal(await rows.count(), 1);
    await save(page, 'archives');
    await page.getByLabel('Search archives').fill('');
    await page.getByRole('button', { name: 'Size' }).click(); // ascending
    assert.deepEqual(await page.locator('td.desc').allInnerTexts(), ['five mebibytes', 'forty mebibytes']);
    await page.getByRole('button', { name: 'Size' }).click(); // descending
    assert.deepEqual(await page.locator('td.desc').allInnerTexts(), ['forty mebibytes', 'five mebibytes']);
    assert.equal(await page.locator('th[aria-sort="descending"]').innerText(), 'Size ▼');
  });

  test('retrieve the 40 MiB archive and a 1 MiB range of it; download both, verified', async () => {
    const row = page.locator('tr[data-archive]', { hasText: 'forty mebibytes' });
    const archiveId = (await row.getAttribute('data-archive'))!;
    await row.getByRole('button', { name: /^Retrieve/ }).click();
    await page.getByRole('heading', { name: 'photos' }).waitFor(WAIT);
    await page.getByLabel('Archive id', { exact: true }).fill(archiveId);
    await page.getByLabel(/Byte range/).fill(`${MIB}-${2 * MIB - 1}`);
    await page.getByRole('button', { name: 'Start retrieval' }).click();
    const done = page.locator('tr[data-job][data-status="Succeeded"]', { hasText: 'ArchiveRetrieval' });
    await done.nth(1).waitFor(WAIT);
    const whole = page.locator('tr[data-job][data-status="Succeeded"]', { hasText: `0-${40 * MIB - 1}` });
    const part = page.locator('tr[data-job][data-status="Succeeded"]', { hasText: `${MIB}-${2 * MIB - 1}` });
    const wholeBytes = await downloadJob(page, (await whole.getAttribute('data-job'))!);
    assert.equal(sha(wholeBytes), sha(large));
    const partBytes = await downloadJob(page, (await part.getAttribute('data-job'))!);
    assert.equal(sha(partBytes), sha(large.subarray(MIB, 2 * MIB)));
    assert.equal(await page.locator('.verified').count(), 2);
    await save(page, 'jobs');
  });

  test('the server page and the Chinese translation', async () => {
    await page.getByRole('link', { name: 'Server' }).click();
    await page.locator('#server-health').filter({ hasText: 'ok' }).waitFor(WAIT);
    assert.match(await page.locator('#server-version').innerText(), /^\d+\.\d+\.\d+/);
    await page.locator('.card .bars li').first().waitFor(WAIT);
    // Five scrapes make four rates: a line to see in the screenshot.
    await page.waitForFunction(() => {
      const doc = (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(n: string): string | null } | null } }).document;
      return (doc.querySelector('svg.chart polyline')?.getAttribute('points') ?? '').split(' ').length >= 4;
    }, null, WAIT);
    await save(page, 'server');
    await page.getByRole('button', { name: 'Switch language to Chinese' }).click();
    await page.getByRole('heading', { name: '服务器' }).waitFor(WAIT);
    await save(page, 'server-zh');
    await page.reload();
    await page.getByRole('heading', { name: '服务器' }).waitFor(WAIT); // remembered
    await page.getByRole('link', { name: '存储库' }).click();
    await page.getByRole('heading', { name: '存储库' }).waitFor(WAIT);
    await save(page, 'vaults-zh');
    await page.getByRole('button', { name: '切换语言为英文' }).click();
    await page.getByRole('heading', { name: 'Vaults' }).waitFor(WAIT);
    // A small laptop screen: the jobs of the vault still fit.
    await page.setViewportSize({ width: 1024, height: 700 });
    await page.locator('tr[data-vault="photos"] a').click();
    await page.getByRole('tab', { name: 'Jobs' }).click();
    await page.locator('tr[data-job]').first().waitFor(WAIT);
    const wrap = await page.locator('.table-wrap').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    assert.ok(wrap.scroll <= wrap.client, `the jobs table needs ${wrap.scroll}px of ${wrap.client}px`);
    await save(page, 'jobs-1024');
  });
});

describe('console: errors', () => {
  let page: Page;
  let context: BrowserContext;
  let save: ReturnType<typeof screenshots>;
  let oneArchiveId = '';

  before(async () => {
    ({ page, context } = await openPage());
    save = screenshots(join(shotsRoot, 'errors'));
  });
  after(async () => { await context.close(); });

  test('a bad secret is refused with a clear message and nothing is stored', async () => {
    // By keyboard alone: the id field has the focus, Tab moves on, Enter submits.
    await page.getByLabel('AccessKeyId').waitFor(WAIT);
    await page.keyboard.type(ROOT_ID);
    await page.keyboard.press('Tab');
    await page.keyboard.type('not-the-secret');
    await page.keyboard.press('Enter');
    const alert = page.getByRole('alert');
    await alert.waitFor(WAIT);
    assert.match(await alert.innerText(), /The AccessKeyId or secret is wrong\. \(SignatureDoesNotMatch\)/);
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
    await save(page, 'bad-secret');
    await signIn(page);
    await page.getByRole('heading', { name: 'Vaults' }).waitFor(WAIT);
    assert.equal(await page.evaluate("localStorage.getItem('oas-console.key')"), null);
  });

  test('deleting a non-empty vault shows VaultNotEmpty and keeps the vault', async () => {
    await createVault(page, 'keep');
    await page.locator('tr[data-vault="keep"] a').click();
    await page.getByRole('tab', { name: 'Upload', exact: true }).click();
    // Dropped on the drop zone this time, not chosen.
    await page.getByLabel('Description (optional)').fill('one');
    const dropped = await page.evaluateHandle('(() => { const dt = new DataTransfer(); dt.items.add(new File([new Uint8Array(1048576).fill(7)], "one.bin")); return dt; })()');
    await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer: dropped });
    await page.getByText(/Uploaded as archive/).waitFor(WAIT);
    oneArchiveId = /Uploaded as archive (\w+)\./.exec(await page.getByText(/Uploaded as archive/).innerText())![1]!;
    await page.getByRole('link', { name: 'Vaults' }).first().click();
    await page.locator('tr[data-vault="keep"]').getByRole('button', { name: 'Delete keep' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor(WAIT);
    assert.match(await alert.innerText(), /not empty.*\(VaultNotEmpty\)/);
    assert.equal(await page.locator('tr[data-vault="keep"]').count(), 1);
    await save(page, 'vault-not-empty');
  });

  test('an upload cancelled half way resumes after a reload, skipping the parts already sent', async () => {
    const file = randomFile(40 * MIB, 4);
    await writeFile(join(work, 'resume.bin'), file);
    await page.locator('tr[data-vault="keep"] a').click();
    await page.getByRole('tab', { name: 'Upload', exact: true }).click();
    // Let two part uploads through and hold the rest, so the cancel lands mid-upload. Parts
    // go out in parallel, so which two get through is whichever two the page sent first.
    const passed: string[] = [];
    await page.route(/\/multipart-uploads\/[^/?]+$/, async (route) => {
      if (route.request().method() !== 'PUT' || passed.length < 2) {
        const range = /^bytes (\d+-\d+)\//.exec(route.request().headers()['content-range'] ?? '');
        if (range) passed.push(range[1]!);
        await route.continue();
        return;
      }
      // held: the page's cancel aborts it
    });
    await page.getByLabel('Description (optional)').fill('resumed');
    await page.locator('#upload-file').setInputFiles(join(work, 'resume.bin'));
    await page.getByText('2/5 parts').waitFor(WAIT);
    await save(page, 'upload-in-progress');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText(/Upload cancelled/).waitFor(WAIT);
    await page.unrouteAll({ behavior: 'ignoreErrors' });

    await page.reload();
    await page.getByRole('heading', { name: 'Interrupted uploads' }).waitFor(WAIT);
    assert.equal(await page.locator('.resumable li').count(), 1);
    assert.match(await page.locator('.resumable li').innerText(), /resume\.bin \(40\.0 MiB\)/);
    await save(page, 'interrupted');
    // The open upload and the two parts it has so far, on the Multipart uploads tab.
    await page.getByRole('tab', { name: 'Multipart uploads' }).click();
    const open = page.locator('tr[data-upload]');
    await open.waitFor(WAIT);
    await open.getByRole('button', { name: /^Show parts/ }).click();
    await open.locator('.part-list li').nth(1).waitFor(WAIT);
    const byStart = (a: string, b: string): number => Number(a.split('-')[0]) - Number(b.split('-')[0]);
    assert.equal(passed.length, 2);
    assert.deepEqual(await open.locator('.part-list .mono').allInnerTexts(), [...passed].sort(byStart));
    await save(page, 'multipart');
    await page.getByRole('tab', { name: 'Upload', exact: true }).click();
    await page.getByRole('heading', { name: 'Interrupted uploads' }).waitFor(WAIT);
    await page.locator('#upload-file').setInputFiles(join(work, 'resume.bin'));
    await page.getByText(/Uploaded as archive/).waitFor(WAIT);
    assert.match(await page.locator('.upload-progress').innerText(), /2 parts already uploaded/);
    assert.equal(await page.locator('.resumable li').count(), 0);
    await save(page, 'resumed');

    await page.getByRole('tab', { name: 'Multipart uploads' }).click();
    await page.getByText('No open multipart uploads.').waitFor(WAIT);
    await page.getByRole('tab', { name: 'Archives' }).click();
    await page.getByRole('button', { name: 'Refresh inventory' }).click();
    await page.getByText('Inventory ready.').waitFor(WAIT);
    const resumed = page.locator('tr[data-archive]', { hasText: 'resumed' });
    assert.equal(await resumed.count(), 1);
    assert.match(await resumed.innerText(), /40\.0 MiB/);
  });

  test('a failed retrieval shows its message', async () => {
    const [segment] = await ts.server.meta.getSegments(oneArchiveId);
    await corruptBlobByte(ts.dataDir, segment!.blobKey, 100);
    await page.getByRole('tab', { name: 'Jobs' }).click();
    await page.getByLabel('Archive id', { exact: true }).fill(oneArchiveId);
    await page.getByRole('button', { name: 'Start retrieval' }).click();
    const failed = page.locator('tr[data-job][data-status="Failed"]');
    await failed.waitFor(WAIT);
    const jobId = (await failed.getAttribute('data-job'))!;
    assert.match(await page.locator(`tr[data-message-of="${jobId}"]`).innerText(), /corrupt/i);
    assert.equal(await failed.getByRole('button', { name: /^Download/ }).count(), 0);
    await save(page, 'job-failed');
  });

  test('an archive is deleted, an open upload aborted, and the vault limit is shown', async () => {
    await page.getByRole('tab', { name: 'Archives' }).click();
    const row = page.locator(`tr[data-archive="${oneArchiveId}"]`);
    await row.waitFor(WAIT);
    await row.getByRole('button', { name: `Delete ${oneArchiveId}` }).click();
    await page.getByText(/Archive deleted/).waitFor(WAIT);

    // An upload left open (cancelled after its first part), then aborted from its tab.
    await writeFile(join(work, 'twenty.bin'), randomFile(20 * MIB, 5));
    await page.getByRole('tab', { name: 'Upload', exact: true }).click();
    let passed = 0;
    await page.route(/\/multipart-uploads\/[^/?]+$/, async (route) => {
      if (route.request().method() !== 'PUT' || passed++ < 1) { await route.continue(); return; }
    });
    await page.locator('#upload-file').setInputFiles(join(work, 'twenty.bin'));
    await page.getByText('1/3 parts').waitFor(WAIT);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText(/Upload cancelled/).waitFor(WAIT);
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.getByRole('tab', { name: 'Multipart uploads' }).click();
    const open = page.locator('tr[data-upload]');
    await open.waitFor(WAIT);
    await open.getByRole('button', { name: /^Abort/ }).click();
    await page.getByText('No open multipart uploads.').waitFor(WAIT);
    await page.getByRole('tab', { name: 'Upload', exact: true }).click();
    await page.locator('.dropzone').waitFor(WAIT);
    assert.equal(await page.locator('.resumable li').count(), 0); // forgotten locally too

    // Two vaults exist (photos, keep) and the limit is 3.
    await page.getByRole('link', { name: 'Vaults' }).first().click();
    await createVault(page, 'third');
    await page.getByLabel('New vault name').fill('fourth');
    await page.getByRole('button', { name: 'Create vault' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor(WAIT);
    assert.match(await alert.innerText(), /vault limit.*\(TooManyVaults\)/);
    assert.equal(await page.locator('tr[data-vault="fourth"]').count(), 0);
    await save(page, 'too-many-vaults');
  });
});
