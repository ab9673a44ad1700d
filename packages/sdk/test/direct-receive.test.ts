// Bodies read from the socket straight into the caller's memory (client/direct-receive.ts),
// against real servers on loopback: node:http for ordinary answers, raw TCP for the ones
// node:http would not send (too many bytes, a stall half way, a huge head).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { OASAPI } from '../src/client/api.js';
import { receiveInto, type BodyTarget, type DirectEndpoint } from '../src/client/direct-receive.js';
import { OASAbortError, OASTransportError } from '../src/client/errors.js';
import type { OutgoingRequest } from '../src/client/transport.js';
import { pattern } from './helpers/pattern.js';

const MIB = 1024 * 1024;
const REQUEST: OutgoingRequest = { operation: 'fetchJobOutput', method: 'GET', path: '/vaults/v/jobs/j/output', headers: { Host: 'oas', 'x-oas-version': '1' } };

/** A target of 1 MiB leaves; `eager`: a new leaf is there at once (else only through ready(), after a delay). */
class Leaves implements BodyTarget {
  readonly done: Buffer[] = [];
  private leaf: Buffer | undefined;
  private fill = 0;
  readies = 0;
  filledCalls = 0;

  constructor(private readonly eager: boolean) {}

  space(): Uint8Array | undefined {
    if (!this.leaf && this.eager) this.start();
    return this.leaf?.subarray(this.fill);
  }

  filled(n: number): void {
    assert.ok(this.leaf && n > 0 && this.fill + n <= MIB, `filled(${n}) fits the leaf`);
    this.filledCalls++;
    this.fill += n;
    if (this.fill === MIB) {
      this.done.push(this.leaf);
      this.leaf = undefined;
    }
  }

  async ready(): Promise<void> {
    this.readies++;
    if (this.leaf) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
    this.start();
  }

  bytes(): Buffer {
    return Buffer.concat([...this.done, ...(this.leaf ? [this.leaf.subarray(0, this.fill)] : [])]);
  }

  private start(): void {
    this.leaf = Buffer.alloc(MIB);
    this.fill = 0;
  }
}

async function listen<T extends http.Server | TcpServer>(server: T): Promise<DirectEndpoint & { close(): Promise<void> }> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    host: '127.0.0.1', port, timeoutMs: 5000,
    close: () => new Promise<void>((resolve) => {
      (server as http.Server).closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

/** A raw TCP server answering every connection with `answer`, the request it read first. */
async function rawServer(answer: (socket: Socket, request: string) => void) {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let text = '';
    let answered = false;
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (!answered && text.includes('\r\n\r\n')) {
        answered = true;
        requests.push(text);
        answer(socket, text);
      }
    });
  });
  const endpoint = await listen(server);
  return {
    endpoint, requests, sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return endpoint.close();
    },
  };
}

for (const eager of [true, false]) {
  test(`a 2xx body of any length arrives exact, whatever the target's room (${eager ? 'leaves at once' : 'leaves only after a wait'})`, async () => {
    const sizes = [0, 1, 1000, MIB, MIB + 1, 37 * MIB + 123];
    const bodies = new Map(sizes.map((size) => [`/${size}`, pattern(size, size)]));
    const server = http.createServer((req, res) => {
      const body = bodies.get(req.url!)!;
      res.writeHead(206, { 'Content-Length': body.length, 'x-oas-tree-etag': 'abc', 'x-twice': ['1', '2'] });
      res.end(body);
    });
    const endpoint = await listen(server);
    try {
      for (const size of sizes) {
        const target = new Leaves(eager);
        const result = await receiveInto(endpoint, { ...REQUEST, path: `/${size}` }, target);
        assert.equal(result?.status, 206);
        assert.equal(result?.headers['x-oas-tree-etag'], 'abc');
        assert.ok(target.bytes().equals(bodies.get(`/${size}`)!), `${size} bytes`);
        // Read in place: the reads land in the leaves, not a chunk each copied in.
        if (eager && size > MIB) assert.ok(target.readies <= 2, `${target.readies} waits for ${size} bytes`);
      }
    } finally {
      await endpoint.close();
    }
  });
}

test('the request goes out as given, on its own connection, which it asks to close', async () => {
  const raw = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc'));
  try {
    const target = new Leaves(true);
    assert.equal((await receiveInto(raw.endpoint, REQUEST, target))?.status, 200);
    assert.equal(target.bytes().toString(), 'abc');
    assert.equal(raw.requests[0], 'GET /vaults/v/jobs/j/output HTTP/1.1\r\nHost: oas\r\nx-oas-version: 1\r\nConnection: close\r\n\r\n');
  } finally {
    await raw.close();
  }
});

test('an error status, a chunked body or a head over 16 KiB: undefined, and nothing reached the target', async () => {
  const answers = [
    'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\n\r\nabc',
    `HTTP/1.1 200 OK\r\nContent-Length: 3\r\nx-big: ${'a'.repeat(17 * 1024)}\r\n\r\nabc`,
    'not http at all\r\n\r\n',
  ];
  let next = 0;
  const raw = await rawServer((socket) => socket.end(answers[next++]));
  try {
    for (const answer of answers) {
      const target = new Leaves(true);
      assert.equal(await receiveInto(raw.endpoint, REQUEST, target), undefined, answer.slice(0, 40));
      assert.equal(target.filledCalls, 0);
    }
  } finally {
    await raw.close();
  }
});

test('a body cut short or stalled, or no answer, fails with a transport error', async () => {
  const cases: Array<[string, (socket: Socket) => void, RegExp]> = [
    ['cut short', (s) => s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${2 * MIB}\r\n\r\n${'x'.repeat(MIB)}`), /bytes of the body missing/],
    ['stalled', (s) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc`), /timed out/],
    ['no answer', (s) => s.end(), /closed before a response arrived/],
  ];
  let next = 0;
  const raw = await rawServer((socket) => cases[next++]![1](socket));
  try {
    for (const [name, , message] of cases) {
      const error = await receiveInto({ ...raw.endpoint, timeoutMs: 300 }, REQUEST, new Leaves(true)).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof OASTransportError, `${name}: ${String(error)}`);
      assert.match(error.message, message, name);
    }
  } finally {
    await raw.close();
  }
});

test('bytes past the Content-Length are not the body: it ends there, however they arrive', async () => {
  const answers: Array<(socket: Socket) => void> = [
    (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef'),
    (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n');
      setTimeout(() => s.end('abcdef'), 20);
    },
    (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab');
      setTimeout(() => s.end('cdef'), 20);
    },
  ];
  let next = 0;
  const raw = await rawServer((socket) => answers[next++]!(socket));
  try {
    for (let i = 0; i < answers.length; i++) {
      // Not eager: the body's first bytes land in the spill buffer, which reads past the end.
      const target = new Leaves(i !== 1);
      assert.equal((await receiveInto(raw.endpoint, REQUEST, target))?.status, 200);
      assert.equal(target.bytes().toString(), 'abc', `answer ${i}`);
    }
  } finally {
    await raw.close();
  }
});

test('an abort half way rejects with an abort error and closes the connection', async () => {
  const raw = await rawServer((socket) => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${4 * MIB}\r\n\r\n${'x'.repeat(MIB)}`));
  try {
    const controller = new AbortController();
    const target = new Leaves(true);
    const receiving = receiveInto(raw.endpoint, { ...REQUEST, signal: controller.signal }, target);
    while (target.filledCalls === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await assert.rejects(receiving, OASAbortError);
    for (let i = 0; i < 200 && raw.sockets.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(raw.sockets.size, 0, 'the server saw the connection close');
    await assert.rejects(receiveInto(raw.endpoint, { ...REQUEST, signal: AbortSignal.abort() }, target), OASAbortError);
  } finally {
    await raw.close();
  }
});

test('OASAPI.fetchJobOutputInto leaves HTTPS and a caller\'s agent to the ordinary transport', async () => {
  const target = new Leaves(true);
  const agent = new http.Agent();
  const viaAgent = new OASAPI('127.0.0.1', 'id', 'secret', { port: 9, agent });
  const secure = new OASAPI('127.0.0.1', 'id', 'secret', { port: 443 });
  try {
    // Port 9 (discard) and 443 have nothing listening: a connection attempt would fail.
    assert.equal(await viaAgent.fetchJobOutputInto('v', 'j', undefined, target), undefined);
    assert.equal(await secure.fetchJobOutputInto('v', 'j', undefined, target), undefined);
    assert.equal(target.filledCalls, 0);
  } finally {
    viaAgent.close();
    secure.close();
    agent.destroy();
  }
});
