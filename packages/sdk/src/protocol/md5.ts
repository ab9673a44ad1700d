// Incremental MD5 in plain TypeScript (RFC 1321), so checksums can be computed where
// node:crypto is missing (a browser: WebCrypto has no MD5). Node code keeps node:crypto
// for bulk data; this one serves the browser console and the tree-etag parent hashes.

const K = Int32Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

export class Md5 {
  private a = 0x67452301;
  private b = 0xefcdab89 | 0;
  private c = 0x98badcfe | 0;
  private d = 0x10325476;
  private readonly block = new Uint8Array(64);
  private fill = 0;
  private length = 0;
  private readonly words = new Int32Array(16);

  update(data: Uint8Array): this {
    this.length += data.byteLength;
    let offset = 0;
    if (this.fill > 0) {
      const take = Math.min(64 - this.fill, data.byteLength);
      this.block.set(data.subarray(0, take), this.fill);
      this.fill += take;
      offset = take;
      if (this.fill < 64) return this;
      this.compress(this.block, 0);
      this.fill = 0;
    }
    while (offset + 64 <= data.byteLength) {
      this.compress(data, offset);
      offset += 64;
    }
    if (offset < data.byteLength) {
      this.block.set(data.subarray(offset), 0);
      this.fill = data.byteLength - offset;
    }
    return this;
  }

  /** The 16-byte digest. The hasher must not be used afterwards. */
  digest(): Uint8Array {
    const bits = this.length * 8;
    const pad = new Uint8Array((this.fill < 56 ? 56 : 120) - this.fill + 8);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    view.setUint32(pad.length - 8, bits >>> 0, true);
    view.setUint32(pad.length - 4, Math.floor(bits / 2 ** 32), true);
    this.update(pad);
    const out = new Uint8Array(16);
    const outView = new DataView(out.buffer);
    [this.a, this.b, this.c, this.d].forEach((word, i) => outView.setInt32(i * 4, word, true));
    return out;
  }

  /** The digest as upper-case hex, as OAS writes etags. */
  hex(): string {
    return toHex(this.digest());
  }

  private compress(p: Uint8Array, o: number): void {
    const x = this.words;
    for (let i = 0; i < 16; i++, o += 4) x[i] = p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24);
    let a = this.a, b = this.b, c = this.c, d = this.d;
    for (let i = 0; i < 64; i++) {
      let f: number, g: number;
      if (i < 16) { f = (b & c) | (~b & d); g = i; }
      else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
      else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
      else { f = c ^ (b | ~d); g = (7 * i) & 15; }
      const t = d;
      d = c;
      c = b;
      const sum = (a + f + K[i]! + x[g]!) | 0;
      const s = S[((i >> 4) << 2) | (i & 3)]!;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
      a = t;
    }
    this.a = (this.a + a) | 0;
    this.b = (this.b + b) | 0;
    this.c = (this.c + c) | 0;
    this.d = (this.d + d) | 0;
  }
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX[byte];
  return out;
}

/** Upper-case hex MD5 of bytes or of a string's UTF-8 encoding. */
export function md5HexOf(data: Uint8Array | string): string {
  return new Md5().update(typeof data === 'string' ? new TextEncoder().encode(data) : data).hex();
}
