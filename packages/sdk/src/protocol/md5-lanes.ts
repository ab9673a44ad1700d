// MD5 of 8 independent equal-length messages at once in WebAssembly SIMD (two interleaved
// groups of 4 lanes), generated as bytecode here so the SDK ships no binary and no
// dependency. Tree-etag leaves are independent 1 MiB messages: this hashes them at about
// 3.5x the speed of one node:crypto MD5 stream on one thread.
//
// Exported function md5(p0..p7, blocks, state, scratch): runs `blocks` 64-byte blocks of
// lane j from address pj, updating the state at `state` (group g, word k (A..D), lane l at
// state + g*64 + k*16 + l*4); `scratch` is 512 bytes for the transposed message words.

export const MD5_LANES = 8;
const GROUPS = MD5_LANES / 4;

const T = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);
const SHIFTS = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]];
export const MD5_INIT = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}

const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'ascii')];

/** The module, importing shared memory "e"."m" of exactly `pages` 64 KiB pages. */
export function md5LanesWasm(pages: number): Uint8Array {
  const PARAMS = MD5_LANES + 3;
  const N = MD5_LANES, STATE = MD5_LANES + 1, SCRATCH = MD5_LANES + 2;
  // v128 locals per group: a b c d, saved a b c d, 4 rows, 4 transposed, 1 temp.
  const PER_GROUP = 17;
  const v = (g: number, k: number): number => PARAMS + g * PER_GROUP + k;
  const c: number[] = [];
  const op = (...b: number[]): void => { c.push(...b); };
  const simd = (code: number): void => op(0xfd, ...uleb(code));
  const get = (i: number): void => op(0x20, ...uleb(i));
  const set = (i: number): void => op(0x21, ...uleb(i));
  const tee = (i: number): void => op(0x22, ...uleb(i));
  const i32 = (n: number): void => op(0x41, ...sleb(n));
  const load = (offset: number): void => { simd(0x00); op(4, ...uleb(offset)); };
  const store = (offset: number): void => { simd(0x0b); op(4, ...uleb(offset)); };
  const splat = (x: number): void => {
    simd(0x0c);
    for (let l = 0; l < 4; l++) op(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24);
  };
  const shuffle = (words: number[]): void => {
    simd(0x0d);
    for (const w of words) op(w * 4, w * 4 + 1, w * 4 + 2, w * 4 + 3);
  };
  const add = (): void => simd(0xae), shl = (): void => simd(0xab), shrU = (): void => simd(0xad);
  const or = (): void => simd(0x50), xor = (): void => simd(0x51), not = (): void => simd(0x4d);
  const bitselect = (): void => simd(0x52);

  for (let g = 0; g < GROUPS; g++) for (let k = 0; k < 4; k++) { get(STATE); load(g * 64 + k * 16); set(v(g, k)); }
  op(0x03, 0x40); // loop over blocks
  // Transpose: word w of each group's 4 lanes into one vector, stored to scratch.
  for (let g = 0; g < GROUPS; g++) {
    const row = (j: number): number => v(g, 8 + j), t = (j: number): number => v(g, 12 + j);
    for (let q = 0; q < 4; q++) {
      for (let j = 0; j < 4; j++) { get(4 * g + j); load(16 * q); set(row(j)); }
      get(row(0)); get(row(1)); shuffle([0, 4, 1, 5]); set(t(0));
      get(row(0)); get(row(1)); shuffle([2, 6, 3, 7]); set(t(1));
      get(row(2)); get(row(3)); shuffle([0, 4, 1, 5]); set(t(2));
      get(row(2)); get(row(3)); shuffle([2, 6, 3, 7]); set(t(3));
      const outs: Array<[number, number, number[]]> = [[0, 2, [0, 1, 4, 5]], [0, 2, [2, 3, 6, 7]], [1, 3, [0, 1, 4, 5]], [1, 3, [2, 3, 6, 7]]];
      outs.forEach(([x, y, words], j) => { get(SCRATCH); get(t(x)); get(t(y)); shuffle(words); store(g * 256 + (4 * q + j) * 16); });
    }
  }
  for (let g = 0; g < GROUPS; g++) for (let k = 0; k < 4; k++) { get(v(g, k)); set(v(g, 4 + k)); }
  // The 64 steps, the groups interleaved so the CPU overlaps their dependency chains.
  const regs = Array.from({ length: GROUPS }, (_, g) => [v(g, 0), v(g, 1), v(g, 2), v(g, 3)]);
  for (let i = 0; i < 64; i++) {
    const round = i >> 4;
    const word = [i, (1 + 5 * i) % 16, (5 + 3 * i) % 16, (7 * i) % 16][round]!;
    const s = SHIFTS[round]![i % 4]!;
    for (let g = 0; g < GROUPS; g++) {
      const [a, b, cc, d] = regs[g]! as [number, number, number, number];
      const tmp = v(g, 16);
      get(b);
      get(a);
      if (round === 0) { get(cc); get(d); get(b); bitselect(); }          // (b & c) | (~b & d)
      else if (round === 1) { get(b); get(cc); get(d); bitselect(); }     // (b & d) | (c & ~d)
      else if (round === 2) { get(b); get(cc); xor(); get(d); xor(); }    // b ^ c ^ d
      else { get(cc); get(b); get(d); not(); or(); xor(); }               // c ^ (b | ~d)
      add();
      get(SCRATCH); load(g * 256 + word * 16); add();
      splat(T[i]!); add();
      tee(tmp); i32(s); shl(); get(tmp); i32(32 - s); shrU(); or();    // rotate left by s
      add();
      set(a);
      regs[g] = [d, a, b, cc];
    }
  }
  for (let g = 0; g < GROUPS; g++) for (let k = 0; k < 4; k++) { get(v(g, k)); get(v(g, 4 + k)); add(); set(v(g, k)); }
  for (let j = 0; j < MD5_LANES; j++) { get(j); i32(64); op(0x6a); set(j); }
  get(N); i32(1); op(0x6b); tee(N); op(0x0d, 0); // br_if loop while --blocks != 0
  op(0x0b);
  for (let g = 0; g < GROUPS; g++) for (let k = 0; k < 4; k++) { get(STATE); get(v(g, k)); store(g * 64 + k * 16); }
  op(0x0b);

  const body = [1, ...uleb(GROUPS * PER_GROUP), 0x7b, ...c];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, ...uleb(PARAMS), ...Array<number>(PARAMS).fill(0x7f), 0]),
    ...section(2, [1, ...name('e'), ...name('m'), 0x02, 0x03, ...uleb(pages), ...uleb(pages)]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('md5'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}
