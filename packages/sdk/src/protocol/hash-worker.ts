// A pool of up to min(4, cores) worker threads hashes 1 MiB leaves out of 16 shared-memory
// slots of 8 MiB: MD5 leaves 8 at a time in WebAssembly SIMD (md5-lanes.ts, node:crypto
// where that is missing) and SHA-256 leaves with node:crypto. The bytes are copied (or read)
// into a slot once; every algorithm asked for runs on it, each on the least busy worker, so
// one slot's MD5 and SHA-256 leaves run at the same time and many callers never queue
// behind one thread. Ordering stays with the caller. A whole-data MD5 (a running state, so
// one thread's work) may run on the pool too, as an MD5 chain pinned to one worker: its
// jobs then reach that worker in order, and the caller's thread is left to receive.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { MIB } from './etag.js';
import { MD5_INIT, MD5_LANES, md5LanesWasm } from './md5-lanes.js';

/** Bytes per slot: 8 leaves, one per SIMD lane, and one message per 8 MiB. */
export const SLOT_SIZE = 8 * MIB;
const LEAVES_PER_SLOT = SLOT_SIZE / MIB;
/** Process-wide cap (128 MiB of shared memory, touched only as used); past it callers wait or hash inline. */
export const MAX_SLOTS = 16;
/** Workers at most: more buys nothing on the machines this runs on, and each costs a thread. */
const MAX_WORKERS = 4;
/** An idle worker is unref'd at once and terminated after this long. */
const IDLE_MS = 10_000;

/** Leaf algorithms the pool runs. */
export type LeafAlgorithm = 'md5' | 'sha256';
/** What a worker runs on a slot: leaves of an algorithm, or the next bytes of an MD5 chain. */
type Job = LeafAlgorithm | 'chain';
const JOBS: readonly Job[] = ['md5', 'sha256', 'chain'];
/**
 * Relative cost of a job per byte, to spread work by time rather than by count: leaves of
 * either kind are about equal (SIMD MD5, SHA-NI), a chain is one plain MD5 stream.
 */
const COST: Record<Job, number> = { md5: 1, sha256: 1, chain: 2.5 };
const DIGEST_BYTES: Record<LeafAlgorithm, number> = { md5: 16, sha256: 32 };

// Shared memory layout: the first 64 KiB hold control data, slots follow.
const DONE_GEN = 0;     // Int32 per slot and algorithm: generation the worker finished last
const DIGESTS = 1024;   // per slot: 8 MD5 digests, then 8 SHA-256 digests
const SLOT_DIGESTS = LEAVES_PER_SLOT * (16 + 32);
const PAD = 8192;       // read only: the final padding block of a full 1 MiB leaf
const WORKER_AREA = 12288; // per worker: 8 lanes of MD5 state, then the transposed message words
const WORKER_AREA_SIZE = 1024;
const SCRATCH = 512;
const DATA = 65536;
const PAGES = (DATA + MAX_SLOTS * SLOT_SIZE) / 65536;

const digestAt = (slot: number, alg: LeafAlgorithm, leaf: number): number =>
  DIGESTS + slot * SLOT_DIGESTS + (alg === 'md5' ? leaf * 16 : LEAVES_PER_SLOT * 16 + leaf * 32);

// Plain JS evaluated in the worker, so it runs the same from tsx sources and from dist/.
const WORKER_SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const MIB = ${MIB}, SLOT = ${SLOT_SIZE}, LANES = ${MD5_LANES}, PAD = ${PAD}, DATA = ${DATA};
const STATE = ${WORKER_AREA} + workerData.index * ${WORKER_AREA_SIZE}, SCRATCH = STATE + ${SCRATCH};
const INIT = ${JSON.stringify(MD5_INIT)};
const digestAt = (slot, alg, leaf) => ${DIGESTS} + slot * ${SLOT_DIGESTS} + (alg === 'md5' ? leaf * 16 : ${LEAVES_PER_SLOT * 16} + leaf * 32);
let mem, gen, md5;
const chains = new Map();
const chainOf = (id) => chains.get(id) ?? chains.set(id, createHash('md5')).get(id);
// Full leaves, LANES at a time (missing lanes repeat the first leaf and are ignored).
function lanes(slot, base, first, n) {
  for (let j = 0; j < LANES; j++) for (let k = 0; k < 4; k++) mem.writeUInt32LE(INIT[k], STATE + (j >> 2) * 64 + k * 16 + (j & 3) * 4);
  const ptrs = [];
  for (let j = 0; j < LANES; j++) ptrs.push(base + (first + (j < n ? j : 0)) * MIB);
  md5(...ptrs, MIB / 64, STATE, SCRATCH);
  md5(...ptrs.map(() => PAD), 1, STATE, SCRATCH);
  for (let j = 0; j < n; j++) for (let k = 0; k < 4; k++) {
    mem.writeUInt32LE(mem.readUInt32LE(STATE + (j >> 2) * 64 + k * 16 + (j & 3) * 4), digestAt(slot, 'md5', first + j) + k * 4);
  }
}
parentPort.on('message', (m) => {
  if (m.op === 'init') {
    mem = Buffer.from(m.memory.buffer || m.memory);
    gen = new Int32Array(mem.buffer, ${DONE_GEN}, ${MAX_SLOTS * JOBS.length});
    if (m.module) {
      try { md5 = new WebAssembly.Instance(m.module, { e: { m: m.memory } }).exports.md5; } catch { md5 = undefined; }
    }
    parentPort.postMessage({ engine: md5 ? 'wasm-simd' : 'node:crypto' });
    return;
  }
  if (m.op === 'chain-bytes') {
    chainOf(m.chain).update(m.data);
    parentPort.postMessage({ caughtUp: m.chain, bytes: m.data.byteLength });
    return;
  }
  if (m.op === 'chain-drop') return void chains.delete(m.chain);
  if (m.op === 'chain-end') {
    const digest = chainOf(m.chain).digest();
    chains.delete(m.chain);
    parentPort.postMessage({ chain: m.chain, digest });
    return;
  }
  const base = DATA + m.id * SLOT;
  if (m.alg === 'chain') {
    chainOf(m.chain).update(mem.subarray(base, base + m.len));
    Atomics.store(gen, m.id * ${JOBS.length} + ${JOBS.indexOf('chain')}, m.gen);
    parentPort.postMessage(m.id);
    return;
  }
  const full = m.alg === 'md5' && md5 ? Math.floor(m.len / MIB) : 0;
  for (let i = 0; i < full; i += LANES) lanes(m.id, base, i, Math.min(LANES, full - i));
  for (let i = full; i * MIB < m.len; i++) {
    createHash(m.alg).update(mem.subarray(base + i * MIB, base + Math.min((i + 1) * MIB, m.len))).digest().copy(mem, digestAt(m.id, m.alg, i));
  }
  Atomics.store(gen, m.id * ${JOBS.length} + (m.alg === 'md5' ? ${JOBS.indexOf('md5')} : ${JOBS.indexOf('sha256')}), m.gen);
  parentPort.postMessage(m.id);
});`;

// Node has WebAssembly, but the ES2023 + @types/node typings do not describe it.
interface Wasm {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
}
const wasm = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

// V8 copies into shared memory with a relaxed memmove that falls back to one byte at a time
// when source and target are not 8-byte aligned alike (socket chunks of odd lengths make
// that the common case): 5x slower than a plain copy. Such copies go through a private
// buffer placed at the target's alignment, two fast copies instead of one slow one.
const STAGE_SIZE = 256 * 1024;
let stage: Buffer | undefined;

/** `target.set(source, offset)`, fast also when `target` is shared memory (a slot's data). */
export function copyIntoShared(source: Uint8Array, target: Uint8Array, offset: number): void {
  const at = target.byteOffset + offset;
  if (((source.byteOffset - at) & 7) === 0 || source.byteLength < 64 || !(target.buffer instanceof SharedArrayBuffer)) {
    target.set(source, offset);
    return;
  }
  if (offset < 0 || offset + source.byteLength > target.byteLength) throw new RangeError('copyIntoShared: offset is out of bounds');
  stage ??= Buffer.allocUnsafeSlow(STAGE_SIZE + 8);
  const shift = at & 7;
  for (let done = 0; done < source.byteLength; done += STAGE_SIZE) {
    const n = Math.min(STAGE_SIZE, source.byteLength - done);
    stage.set(source.subarray(done, done + n), shift);
    target.set(stage.subarray(shift, shift + n), offset + done);
  }
}

export class LeafSlot {
  /** Bumped per submission; the worker stores it back when done (stale replies are ignored). */
  gen = 0;
  /** Bytes of the current submission. */
  len = 0;
  pending = false;
  error: Error | undefined;
  onSettled: (() => void) | undefined;
  /** Jobs of the current submission still running, and the worker running each. */
  readonly running = new Map<Job, PoolWorker>();
  /** The slot's bytes; fill `data.subarray(0, len)` before `submit`. */
  constructor(readonly id: number, readonly data: Buffer) {}
}

export interface SubmitOptions {
  /** Leaf algorithms to run on the slot (default MD5 alone). */
  algorithms?: readonly LeafAlgorithm[];
  /** Also feeds the slot's bytes to this MD5 chain, after everything submitted to it before. */
  chain?: Md5Chain;
}

/**
 * A running MD5 of a stream, kept by one worker (openChain): slots submitted with it and
 * bytes passed to `chainBytes` are added in the order they were given.
 */
export class Md5Chain {
  error: Error | undefined;
  ended = false;
  /** Bytes given by chainBytes that the worker has not taken in yet. */
  backlog = 0;
  /** Callers of `caughtUp` waiting for the backlog to shrink. */
  readonly waiters: (() => void)[] = [];
  constructor(readonly id: number, readonly worker: PoolWorker) {}

  wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

interface Shared {
  memory: object; // WebAssembly.Memory, or a plain SharedArrayBuffer without WebAssembly
  sab: SharedArrayBuffer;
  module: object | undefined;
  doneGen: Int32Array;
}

interface PoolWorker {
  worker: Worker;
  index: number;
  inflight: number;
  /** Queued work weighted by COST (bytes), to pick the least busy worker. */
  load: number;
  /** Chains this worker keeps, by id: it is not retired while any is open. */
  readonly chains: Map<number, Md5Chain>;
  /** Digests asked for by endChain, by chain id. */
  readonly ends: Map<number, { resolve: (digest: Buffer) => void; reject: (err: Error) => void }>;
  idleTimer: NodeJS.Timeout | undefined;
}

class LeafWorkerPool {
  private readonly workers: (PoolWorker | undefined)[] = [];
  private shared: Shared | undefined;
  private readonly slots: LeafSlot[] = [];
  private readonly free: LeafSlot[] = [];
  /** Callers waiting for a free slot (see `whenFree`). */
  private readonly waiters: (() => void)[] = [];
  private inflight = 0;
  private chainIds = 0;
  private useWasm = true;
  readonly maxWorkers = Math.max(1, Math.min(MAX_WORKERS, availableParallelism()));
  engine: string | undefined;

  /** A free slot, or undefined when all MAX_SLOTS are taken (the caller then waits or works inline). */
  acquire(): LeafSlot | undefined {
    const slot = this.free.pop();
    if (slot || this.slots.length >= MAX_SLOTS) return slot;
    const { sab } = this.memory();
    const created = new LeafSlot(this.slots.length, Buffer.from(sab, DATA + this.slots.length * SLOT_SIZE, SLOT_SIZE));
    this.slots.push(created);
    return created;
  }

  /** Resolves when a slot may be free (at once if one is); acquire may still lose the race. */
  whenFree(): Promise<void> {
    if (this.free.length > 0 || this.slots.length < MAX_SLOTS) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Returns a settled slot to the pool. */
  release(slot: LeafSlot): void {
    slot.onSettled = undefined;
    slot.error = undefined;
    this.free.push(slot);
    this.waiters.shift()?.();
  }

  /** Returns a slot to the pool once the workers are done with it (aborts, destroy). */
  releaseWhenSettled(slot: LeafSlot): void {
    if (this.settled(slot)) this.release(slot);
    else slot.onSettled = () => this.release(slot);
  }

  /** Hashes the leaves of `slot.data[0, len)` on the workers; `onSettled` fires when done or failed. */
  submit(slot: LeafSlot, len: number, onSettled?: () => void, options: SubmitOptions = {}): void {
    const algorithms = options.algorithms ?? ['md5'];
    if (algorithms.length === 0) throw new RangeError('leaf pool: no algorithm to run');
    if (slot.pending) throw new Error('leaf pool: slot submitted twice');
    slot.gen = (slot.gen + 1) | 0 || 1;
    slot.pending = true;
    slot.len = len;
    slot.error = undefined;
    slot.onSettled = onSettled;
    this.inflight++;
    for (const alg of new Set(algorithms)) this.post(this.pick(), slot, alg, len);
    const { chain } = options;
    if (chain) {
      if (chain.ended) throw new Error('leaf pool: submit to an ended MD5 chain');
      if (chain.error) slot.error = chain.error;
      else this.post(chain.worker, slot, 'chain', len, chain.id);
    }
  }

  /** Starts an MD5 chain on the least busy worker. */
  openChain(): Md5Chain {
    const w = this.pick();
    const chain = new Md5Chain(++this.chainIds, w);
    w.chains.set(chain.id, chain);
    clearTimeout(w.idleTimer);
    return chain;
  }

  /**
   * Adds bytes that are not in a slot to the chain (copied: the caller may reuse them). The
   * caller keeps the backlog bounded with `caughtUp`.
   */
  chainBytes(chain: Md5Chain, bytes: Uint8Array): void {
    if (chain.ended) throw new Error('leaf pool: bytes for an ended MD5 chain');
    if (chain.error || bytes.byteLength === 0) return;
    // A copy of just these bytes (a view would send its whole buffer), moved, not copied again.
    const data = new Uint8Array(bytes);
    chain.backlog += data.byteLength;
    this.busy(chain.worker); // until the worker says it took them in: a waiting caller needs that reply
    chain.worker.worker.postMessage({ op: 'chain-bytes', chain: chain.id, data }, [data.buffer]);
  }

  /** Undefined while the chain's backlog is at most `limit` bytes; else resolves once it is (or the chain failed). */
  caughtUp(chain: Md5Chain, limit: number): Promise<void> | undefined {
    if (chain.backlog <= limit || chain.error || chain.ended) return undefined;
    return new Promise((resolve) => chain.waiters.push(resolve));
  }

  /** The chain's MD5, once every slot and byte given to it is in; the chain is closed. */
  endChain(chain: Md5Chain): Promise<Buffer> {
    if (chain.ended) return Promise.reject(new Error('leaf pool: MD5 chain ended twice'));
    chain.ended = true;
    const w = chain.worker;
    w.chains.delete(chain.id);
    if (chain.error) {
      this.retireLater(w);
      return Promise.reject(chain.error);
    }
    return new Promise<Buffer>((resolve, reject) => {
      w.ends.set(chain.id, { resolve, reject });
      this.busy(w);
      w.worker.postMessage({ op: 'chain-end', chain: chain.id });
    });
  }

  /** Abandons a chain (the worker forgets it). */
  dropChain(chain: Md5Chain): void {
    if (chain.ended) return;
    chain.ended = true;
    chain.worker.chains.delete(chain.id);
    chain.wake();
    if (this.workers[chain.worker.index] === chain.worker) chain.worker.worker.postMessage({ op: 'chain-drop', chain: chain.id });
    this.retireLater(chain.worker);
  }

  /** Sends one job of a slot to a worker. */
  private post(w: PoolWorker, slot: LeafSlot, job: Job, len: number, chain?: number): void {
    slot.running.set(job, w);
    this.busy(w);
    w.load += len * COST[job];
    w.worker.postMessage({ id: slot.id, gen: slot.gen, len, alg: job, chain });
  }

  /** One more job in flight on `w`: pending work keeps the process alive until it settles. */
  private busy(w: PoolWorker): void {
    if (w.inflight++ === 0) {
      w.worker.ref();
      clearTimeout(w.idleTimer);
    }
  }

  /** True once every job of the slot finished (polled from shared memory, no need to wait for the reply). */
  settled(slot: LeafSlot): boolean {
    if (!slot.pending) return true;
    for (const [job, w] of slot.running) {
      if (Atomics.load(this.shared!.doneGen, slot.id * JOBS.length + JOBS.indexOf(job)) === slot.gen) this.finishJob(slot, job, w);
    }
    if (slot.running.size === 0) this.settle(slot);
    return !slot.pending;
  }

  /** Copy of leaf `i` of a settled slot (the slot is reused, so never hand out a view). */
  digest(slot: LeafSlot, i: number, algorithm: LeafAlgorithm = 'md5'): Buffer {
    return Buffer.from(Buffer.from(this.shared!.sab, digestAt(slot.id, algorithm, i), DIGEST_BYTES[algorithm]));
  }

  stats(): { running: boolean; workers: number; maxWorkers: number; inflight: number; slots: number; free: number; engine: string | undefined } {
    const workers = this.workers.filter(Boolean).length;
    return { running: workers > 0, workers, maxWorkers: this.maxWorkers, inflight: this.inflight, slots: this.slots.length, free: this.free.length, engine: this.engine };
  }

  /** Terminates every worker now; pending work fails; a later submit starts new ones. */
  async stop(): Promise<void> {
    const all = this.workers.filter((w): w is PoolWorker => w !== undefined);
    for (const w of all) this.fail(w, new Error('leaf hash worker stopped'));
    await Promise.all(all.map((w) => w.worker.terminate()));
  }

  /** Chooses the leaf engine for the next worker start (tests and benches compare both). */
  async configure(options: { wasm: boolean }): Promise<void> {
    await this.stop();
    this.useWasm = options.wasm;
  }

  private memory(): Shared {
    if (this.shared) return this.shared;
    let memory: object, sab: SharedArrayBuffer, module: object | undefined;
    try {
      const mem = new wasm!.Memory({ initial: PAGES, maximum: PAGES, shared: true });
      memory = mem;
      sab = mem.buffer;
      module = new wasm!.Module(md5LanesWasm(PAGES)); // compiled once, shared with every worker
    } catch {
      sab = new SharedArrayBuffer(PAGES * 65536);
      memory = sab;
      module = undefined;
    }
    // The padding block every full leaf ends with, read by every worker.
    const pad = Buffer.from(sab, PAD, 64);
    pad[0] = 0x80;
    pad.writeUInt32LE(MIB * 8, 56);
    this.shared = { memory, sab, module, doneGen: new Int32Array(sab, DONE_GEN, MAX_SLOTS * JOBS.length) };
    return this.shared;
  }

  /** The least busy worker; a new one while every running one has work and there is room. */
  private pick(): PoolWorker {
    let best: PoolWorker | undefined;
    let gap = -1;
    for (let i = 0; i < this.maxWorkers; i++) {
      const w = this.workers[i];
      if (!w) {
        if (gap < 0) gap = i;
      } else if (!best || w.load < best.load) {
        best = w;
      }
    }
    if (best && ((best.inflight === 0 && best.chains.size === 0) || gap < 0)) return best;
    return this.start(gap);
  }

  private start(index: number): PoolWorker {
    const { memory, module } = this.memory();
    // execArgv: [] so loaders of the parent (e.g. tsx) are not started in the worker.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { index } });
    const w: PoolWorker = { worker, index, inflight: 0, load: 0, chains: new Map(), ends: new Map(), idleTimer: undefined };
    worker.unref();
    worker.postMessage({ op: 'init', memory, module: this.useWasm ? module : undefined });
    type Reply = number | { engine: string } | { chain: number; digest: Uint8Array } | { caughtUp: number; bytes: number };
    worker.on('message', (msg: Reply) => {
      if (typeof msg === 'number') {
        if (this.slots[msg]) this.settled(this.slots[msg]);
      } else if ('caughtUp' in msg) {
        this.idle(w);
        const chain = w.chains.get(msg.caughtUp);
        if (chain) {
          chain.backlog -= msg.bytes;
          chain.wake();
        }
      } else if ('chain' in msg) {
        const end = w.ends.get(msg.chain);
        w.ends.delete(msg.chain);
        this.idle(w);
        end?.resolve(Buffer.from(msg.digest));
      } else {
        this.engine = msg.engine;
      }
    });
    worker.on('error', (err) => this.fail(w, err));
    worker.on('exit', (code) => this.fail(w, new Error(`leaf hash worker exited with code ${code}`)));
    this.workers[index] = w;
    return w;
  }

  /** One algorithm of a slot is done (or lost with its worker). */
  private finishJob(slot: LeafSlot, job: Job, w: PoolWorker): void {
    slot.running.delete(job);
    w.load -= slot.len * COST[job];
    this.idle(w);
  }

  /** One job of `w` is over; with none left it no longer keeps the process alive. */
  private idle(w: PoolWorker): void {
    if (--w.inflight > 0 || this.workers[w.index] !== w) return;
    w.worker.unref();
    this.retireLater(w);
  }

  /** Gives the thread back after a while without work or open chains. */
  private retireLater(w: PoolWorker): void {
    if (w.inflight > 0 || w.chains.size > 0 || this.workers[w.index] !== w) return;
    clearTimeout(w.idleTimer);
    w.idleTimer = setTimeout(() => {
      if (this.workers[w.index] === w && w.inflight === 0 && w.chains.size === 0) {
        this.workers[w.index] = undefined;
        void w.worker.terminate();
      }
    }, IDLE_MS).unref();
  }

  private settle(slot: LeafSlot): void {
    slot.pending = false;
    this.inflight--;
    const onSettled = slot.onSettled;
    slot.onSettled = undefined;
    onSettled?.();
  }

  /** A worker died or was stopped: its jobs fail; each slot settles once its other jobs are done too. */
  private fail(w: PoolWorker, err: Error): void {
    if (this.workers[w.index] !== w) return;
    this.workers[w.index] = undefined;
    clearTimeout(w.idleTimer);
    for (const chain of w.chains.values()) {
      chain.error = err;
      chain.wake();
    }
    w.chains.clear();
    for (const end of w.ends.values()) end.reject(err);
    w.ends.clear();
    for (const slot of this.slots) {
      if (!slot.pending) continue;
      for (const [job, owner] of slot.running) {
        if (owner !== w) continue;
        slot.error = err;
        this.finishJob(slot, job, w);
      }
      if (slot.running.size === 0) this.settle(slot);
      else this.settled(slot);
    }
  }
}

export const leafPool = new LeafWorkerPool();

/** For tests and diagnostics: how many workers run, how much is in flight, which engine. */
export function leafWorkerStats(): ReturnType<LeafWorkerPool['stats']> {
  return leafPool.stats();
}

/** Terminates the leaf workers (e.g. on server shutdown); they restart on demand. */
export function stopLeafWorker(): Promise<void> {
  return leafPool.stop();
}

/** Selects WebAssembly SIMD (default) or node:crypto for MD5 leaves; restarts the workers. */
export function configureLeafWorker(options: { wasm: boolean }): Promise<void> {
  return leafPool.configure(options);
}
