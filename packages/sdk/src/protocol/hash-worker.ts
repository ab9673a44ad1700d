// One shared worker thread hashes 1 MiB tree-etag leaves out of shared-memory slots, so the
// caller's thread can run the whole-data MD5 over the very same bytes at the same time:
// two hashes in parallel, no copy between threads, ordering kept by the caller. The leaves
// run 8 at a time in WebAssembly SIMD (md5-lanes.ts), node:crypto where that is missing.
import { Worker } from 'node:worker_threads';
import { MIB } from './etag.js';
import { MD5_INIT, MD5_LANES, md5LanesWasm } from './md5-lanes.js';

/** Bytes per slot: 8 leaves, one per SIMD lane, and one message per 8 MiB. */
export const SLOT_SIZE = 8 * MIB;
const LEAVES_PER_SLOT = SLOT_SIZE / MIB;
/** Process-wide cap (64 MiB of shared memory, touched only as used); past it callers hash inline. */
const MAX_SLOTS = 8;
/** An idle worker is unref'd at once and terminated after this long. */
const IDLE_MS = 10_000;

// Shared memory layout: page 0 holds control data, slots follow.
const DONE_GEN = 0;     // Int32 per slot: generation the worker finished last
const DIGESTS = 1024;   // 16 bytes per leaf per slot
const STATE = 4096;     // worker only: 8 lanes of MD5 state
const SCRATCH = 8192;   // worker only: transposed message words
const PAD = 12288;      // worker only: the final padding block of a full 1 MiB leaf
const DATA = 65536;
const PAGES = (DATA + MAX_SLOTS * SLOT_SIZE) / 65536;

// Plain JS evaluated in the worker, so it runs the same from tsx sources and from dist/.
const WORKER_SOURCE = `'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const MIB = ${MIB}, SLOT = ${SLOT_SIZE}, LEAVES = ${LEAVES_PER_SLOT}, LANES = ${MD5_LANES};
const DIGESTS = ${DIGESTS}, STATE = ${STATE}, SCRATCH = ${SCRATCH}, PAD = ${PAD}, DATA = ${DATA};
const INIT = ${JSON.stringify(MD5_INIT)};
let mem, gen, md5;
// Full leaves, LANES at a time (missing lanes repeat the first leaf and are ignored).
function lanes(base, first, n, out) {
  for (let j = 0; j < LANES; j++) for (let k = 0; k < 4; k++) mem.writeUInt32LE(INIT[k], STATE + (j >> 2) * 64 + k * 16 + (j & 3) * 4);
  const ptrs = [];
  for (let j = 0; j < LANES; j++) ptrs.push(base + (first + (j < n ? j : 0)) * MIB);
  md5(...ptrs, MIB / 64, STATE, SCRATCH);
  md5(...ptrs.map(() => PAD), 1, STATE, SCRATCH);
  for (let j = 0; j < n; j++) for (let k = 0; k < 4; k++) {
    mem.writeUInt32LE(mem.readUInt32LE(STATE + (j >> 2) * 64 + k * 16 + (j & 3) * 4), out + (first + j) * 16 + k * 4);
  }
}
parentPort.on('message', (m) => {
  if (m.op === 'init') {
    mem = Buffer.from(m.memory.buffer || m.memory);
    gen = new Int32Array(mem.buffer, ${DONE_GEN}, ${MAX_SLOTS});
    if (m.module) {
      try {
        md5 = new WebAssembly.Instance(m.module, { e: { m: m.memory } }).exports.md5;
        mem.fill(0, PAD, PAD + 64);
        mem[PAD] = 0x80;
        mem.writeUInt32LE(MIB * 8, PAD + 56);
      } catch { md5 = undefined; }
    }
    parentPort.postMessage({ engine: md5 ? 'wasm-simd' : 'node:crypto' });
    return;
  }
  const base = DATA + m.id * SLOT, out = DIGESTS + m.id * LEAVES * 16;
  const full = md5 ? Math.floor(m.len / MIB) : 0;
  for (let i = 0; i < full; i += LANES) lanes(base, i, Math.min(LANES, full - i), out);
  for (let i = full; i * MIB < m.len; i++) {
    createHash('md5').update(mem.subarray(base + i * MIB, base + Math.min((i + 1) * MIB, m.len))).digest().copy(mem, out + i * 16);
  }
  Atomics.store(gen, m.id, m.gen);
  parentPort.postMessage(m.id);
});`;

// Node has WebAssembly, but the ES2023 + @types/node typings do not describe it.
interface Wasm {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: SharedArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
}
const wasm = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

export class LeafSlot {
  /** Bumped per submission; the worker stores it back when done (stale replies are ignored). */
  gen = 0;
  pending = false;
  error: Error | undefined;
  onSettled: (() => void) | undefined;
  /** The slot's bytes; fill `data.subarray(0, len)` before `submit`. */
  constructor(readonly id: number, readonly data: Buffer) {}
}

interface Shared {
  memory: object; // WebAssembly.Memory, or a plain SharedArrayBuffer without WebAssembly
  sab: SharedArrayBuffer;
  module: object | undefined;
  doneGen: Int32Array;
}

class LeafWorkerPool {
  private worker: Worker | undefined;
  private shared: Shared | undefined;
  private readonly slots: LeafSlot[] = [];
  private readonly free: LeafSlot[] = [];
  private inflight = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private useWasm = true;
  engine: string | undefined;

  /** A free slot, or undefined when all MAX_SLOTS are taken (the caller then works inline). */
  acquire(): LeafSlot | undefined {
    const slot = this.free.pop();
    if (slot || this.slots.length >= MAX_SLOTS) return slot;
    const { sab } = this.memory();
    const created = new LeafSlot(this.slots.length, Buffer.from(sab, DATA + this.slots.length * SLOT_SIZE, SLOT_SIZE));
    this.slots.push(created);
    return created;
  }

  /** Returns a settled slot to the pool. */
  release(slot: LeafSlot): void {
    slot.onSettled = undefined;
    slot.error = undefined;
    this.free.push(slot);
  }

  /** Returns a slot to the pool once the worker is done with it (aborts, destroy). */
  releaseWhenSettled(slot: LeafSlot): void {
    if (this.settled(slot)) this.release(slot);
    else slot.onSettled = () => this.release(slot);
  }

  /** Hashes the leaves of `slot.data[0, len)` on the worker; `onSettled` fires when done or failed. */
  submit(slot: LeafSlot, len: number, onSettled?: () => void): void {
    const worker = this.start();
    slot.gen = (slot.gen + 1) | 0 || 1;
    slot.pending = true;
    slot.error = undefined;
    slot.onSettled = onSettled;
    if (this.inflight++ === 0) {
      worker.ref(); // pending work keeps the process alive until it settles
      clearTimeout(this.idleTimer);
    }
    worker.postMessage({ id: slot.id, gen: slot.gen, len });
  }

  /** True once the worker finished (polled from shared memory, no need to wait for the reply). */
  settled(slot: LeafSlot): boolean {
    if (slot.pending && Atomics.load(this.shared!.doneGen, slot.id) === slot.gen) this.settle(slot);
    return !slot.pending;
  }

  /** Copy of leaf `i` of a settled slot (the slot is reused, so never hand out a view). */
  digest(slot: LeafSlot, i: number): Buffer {
    const at = DIGESTS + (slot.id * LEAVES_PER_SLOT + i) * 16;
    return Buffer.from(Buffer.from(this.shared!.sab, at, 16));
  }

  stats(): { running: boolean; inflight: number; slots: number; free: number; engine: string | undefined } {
    return { running: this.worker !== undefined, inflight: this.inflight, slots: this.slots.length, free: this.free.length, engine: this.engine };
  }

  /** Terminates the worker now; pending work fails; a later submit starts a new one. */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error('leaf hash worker stopped'));
    await worker.terminate();
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
    this.shared = { memory, sab, module, doneGen: new Int32Array(sab, DONE_GEN, MAX_SLOTS) };
    return this.shared;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const { memory, module } = this.memory();
    // execArgv: [] so loaders of the parent (e.g. tsx) are not started in the worker.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    worker.unref();
    worker.postMessage({ op: 'init', memory, module: this.useWasm ? module : undefined });
    worker.on('message', (msg: number | { engine: string }) => {
      if (typeof msg !== 'number') this.engine = msg.engine;
      else if (this.slots[msg]) this.settled(this.slots[msg]);
    });
    worker.on('error', (err) => this.fail(worker, err));
    worker.on('exit', (code) => this.fail(worker, new Error(`leaf hash worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private settle(slot: LeafSlot): void {
    slot.pending = false;
    if (--this.inflight === 0 && this.worker) {
      // Idle: never keep the process alive, and give the thread back after a while.
      const worker = this.worker;
      worker.unref();
      this.idleTimer = setTimeout(() => {
        if (this.worker === worker && this.inflight === 0) {
          this.worker = undefined;
          void worker.terminate();
        }
      }, IDLE_MS).unref();
    }
    const onSettled = slot.onSettled;
    slot.onSettled = undefined;
    onSettled?.();
  }

  /** The worker died or was stopped: every pending slot settles with an error. */
  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    clearTimeout(this.idleTimer);
    for (const slot of this.slots) {
      if (!slot.pending) continue;
      slot.error = err;
      this.settle(slot);
    }
    this.inflight = 0;
  }
}

export const leafPool = new LeafWorkerPool();

/** For tests and diagnostics: is the shared worker running, how much is in flight, which engine. */
export function leafWorkerStats(): ReturnType<LeafWorkerPool['stats']> {
  return leafPool.stats();
}

/** Terminates the shared leaf worker (e.g. on server shutdown); it restarts on demand. */
export function stopLeafWorker(): Promise<void> {
  return leafPool.stop();
}

/** Selects WebAssembly SIMD (default) or node:crypto for leaves; restarts the worker. */
export function configureLeafWorker(options: { wasm: boolean }): Promise<void> {
  return leafPool.configure(options);
}
