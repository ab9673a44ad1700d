import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { JobNotifier, parseNotifyMapping } from '../src/http/glacier/notify.js';

const TOPIC = 'arn:aws:sns:us-east-1:012345678901:jobs-done';

test('--notify mappings: TOPIC_ARN=URL, http(s) only, one-line errors', () => {
  const m = parseNotifyMapping(`${TOPIC}=http://127.0.0.1:9000/hook?x=1`);
  assert.equal(m.topicArn, TOPIC);
  assert.equal(m.url.href, 'http://127.0.0.1:9000/hook?x=1');
  assert.throws(() => parseNotifyMapping('http://127.0.0.1/hook'), /expects TOPIC_ARN=URL/);
  assert.throws(() => parseNotifyMapping(`${TOPIC}=not a url`), /is not a URL/);
  assert.throws(() => parseNotifyMapping(`${TOPIC}=file:///etc/passwd`), /http or https/);
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
