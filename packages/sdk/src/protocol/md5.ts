// Incremental MD5 in plain TypeScript (RFC 1321), so checksums can be computed where
// node:crypto is missing (a browser: WebCrypto has no MD5). Node code keeps node:crypto
// for bulk data; this one serves the browser console and the tree-etag parent hashes.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

export class Md5 {
  private a = 0x67452301;
  private b = 0xefcdab89 | 0;
  private c = 0x98badcfe | 0;
  private d = 0x10325476;
  private readonly block = new Uint8Array(64);
  private fill = 0;
  private length = 0;

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
    const x0 = le32(p, o), x1 = le32(p, o + 4), x2 = le32(p, o + 8), x3 = le32(p, o + 12);
    const x4 = le32(p, o + 16), x5 = le32(p, o + 20), x6 = le32(p, o + 24), x7 = le32(p, o + 28);
    const x8 = le32(p, o + 32), x9 = le32(p, o + 36), x10 = le32(p, o + 40), x11 = le32(p, o + 44);
    const x12 = le32(p, o + 48), x13 = le32(p, o + 52), x14 = le32(p, o + 56), x15 = le32(p, o + 60);
    let a = this.a, b = this.b, c = this.c, d = this.d, n = 0;
    // The 64 steps of RFC 1321 §3.4 written out (F, G, H, I inline; constants as int32,
    // negative above 2^31, so every sum stays in small-integer arithmetic): a loop with
    // per-step branches and table lookups runs several times slower in V8.
    n = (a + ((b & c) | (~b & d)) + x0 + -680876936) | 0; a = (((n << 7) | (n >>> 25)) + b) | 0;
    n = (d + ((a & b) | (~a & c)) + x1 + -389564586) | 0; d = (((n << 12) | (n >>> 20)) + a) | 0;
    n = (c + ((d & a) | (~d & b)) + x2 + 606105819) | 0; c = (((n << 17) | (n >>> 15)) + d) | 0;
    n = (b + ((c & d) | (~c & a)) + x3 + -1044525330) | 0; b = (((n << 22) | (n >>> 10)) + c) | 0;
    n = (a + ((b & c) | (~b & d)) + x4 + -176418897) | 0; a = (((n << 7) | (n >>> 25)) + b) | 0;
    n = (d + ((a & b) | (~a & c)) + x5 + 1200080426) | 0; d = (((n << 12) | (n >>> 20)) + a) | 0;
    n = (c + ((d & a) | (~d & b)) + x6 + -1473231341) | 0; c = (((n << 17) | (n >>> 15)) + d) | 0;
    n = (b + ((c & d) | (~c & a)) + x7 + -45705983) | 0; b = (((n << 22) | (n >>> 10)) + c) | 0;
    n = (a + ((b & c) | (~b & d)) + x8 + 1770035416) | 0; a = (((n << 7) | (n >>> 25)) + b) | 0;
    n = (d + ((a & b) | (~a & c)) + x9 + -1958414417) | 0; d = (((n << 12) | (n >>> 20)) + a) | 0;
    n = (c + ((d & a) | (~d & b)) + x10 + -42063) | 0; c = (((n << 17) | (n >>> 15)) + d) | 0;
    n = (b + ((c & d) | (~c & a)) + x11 + -1990404162) | 0; b = (((n << 22) | (n >>> 10)) + c) | 0;
    n = (a + ((b & c) | (~b & d)) + x12 + 1804603682) | 0; a = (((n << 7) | (n >>> 25)) + b) | 0;
    n = (d + ((a & b) | (~a & c)) + x13 + -40341101) | 0; d = (((n << 12) | (n >>> 20)) + a) | 0;
    n = (c + ((d & a) | (~d & b)) + x14 + -1502002290) | 0; c = (((n << 17) | (n >>> 15)) + d) | 0;
    n = (b + ((c & d) | (~c & a)) + x15 + 1236535329) | 0; b = (((n << 22) | (n >>> 10)) + c) | 0;
    n = (a + ((b & d) | (c & ~d)) + x1 + -165796510) | 0; a = (((n << 5) | (n >>> 27)) + b) | 0;
    n = (d + ((a & c) | (b & ~c)) + x6 + -1069501632) | 0; d = (((n << 9) | (n >>> 23)) + a) | 0;
    n = (c + ((d & b) | (a & ~b)) + x11 + 643717713) | 0; c = (((n << 14) | (n >>> 18)) + d) | 0;
    n = (b + ((c & a) | (d & ~a)) + x0 + -373897302) | 0; b = (((n << 20) | (n >>> 12)) + c) | 0;
    n = (a + ((b & d) | (c & ~d)) + x5 + -701558691) | 0; a = (((n << 5) | (n >>> 27)) + b) | 0;
    n = (d + ((a & c) | (b & ~c)) + x10 + 38016083) | 0; d = (((n << 9) | (n >>> 23)) + a) | 0;
    n = (c + ((d & b) | (a & ~b)) + x15 + -660478335) | 0; c = (((n << 14) | (n >>> 18)) + d) | 0;
    n = (b + ((c & a) | (d & ~a)) + x4 + -405537848) | 0; b = (((n << 20) | (n >>> 12)) + c) | 0;
    n = (a + ((b & d) | (c & ~d)) + x9 + 568446438) | 0; a = (((n << 5) | (n >>> 27)) + b) | 0;
    n = (d + ((a & c) | (b & ~c)) + x14 + -1019803690) | 0; d = (((n << 9) | (n >>> 23)) + a) | 0;
    n = (c + ((d & b) | (a & ~b)) + x3 + -187363961) | 0; c = (((n << 14) | (n >>> 18)) + d) | 0;
    n = (b + ((c & a) | (d & ~a)) + x8 + 1163531501) | 0; b = (((n << 20) | (n >>> 12)) + c) | 0;
    n = (a + ((b & d) | (c & ~d)) + x13 + -1444681467) | 0; a = (((n << 5) | (n >>> 27)) + b) | 0;
    n = (d + ((a & c) | (b & ~c)) + x2 + -51403784) | 0; d = (((n << 9) | (n >>> 23)) + a) | 0;
    n = (c + ((d & b) | (a & ~b)) + x7 + 1735328473) | 0; c = (((n << 14) | (n >>> 18)) + d) | 0;
    n = (b + ((c & a) | (d & ~a)) + x12 + -1926607734) | 0; b = (((n << 20) | (n >>> 12)) + c) | 0;
    n = (a + (b ^ c ^ d) + x5 + -378558) | 0; a = (((n << 4) | (n >>> 28)) + b) | 0;
    n = (d + (a ^ b ^ c) + x8 + -2022574463) | 0; d = (((n << 11) | (n >>> 21)) + a) | 0;
    n = (c + (d ^ a ^ b) + x11 + 1839030562) | 0; c = (((n << 16) | (n >>> 16)) + d) | 0;
    n = (b + (c ^ d ^ a) + x14 + -35309556) | 0; b = (((n << 23) | (n >>> 9)) + c) | 0;
    n = (a + (b ^ c ^ d) + x1 + -1530992060) | 0; a = (((n << 4) | (n >>> 28)) + b) | 0;
    n = (d + (a ^ b ^ c) + x4 + 1272893353) | 0; d = (((n << 11) | (n >>> 21)) + a) | 0;
    n = (c + (d ^ a ^ b) + x7 + -155497632) | 0; c = (((n << 16) | (n >>> 16)) + d) | 0;
    n = (b + (c ^ d ^ a) + x10 + -1094730640) | 0; b = (((n << 23) | (n >>> 9)) + c) | 0;
    n = (a + (b ^ c ^ d) + x13 + 681279174) | 0; a = (((n << 4) | (n >>> 28)) + b) | 0;
    n = (d + (a ^ b ^ c) + x0 + -358537222) | 0; d = (((n << 11) | (n >>> 21)) + a) | 0;
    n = (c + (d ^ a ^ b) + x3 + -722521979) | 0; c = (((n << 16) | (n >>> 16)) + d) | 0;
    n = (b + (c ^ d ^ a) + x6 + 76029189) | 0; b = (((n << 23) | (n >>> 9)) + c) | 0;
    n = (a + (b ^ c ^ d) + x9 + -640364487) | 0; a = (((n << 4) | (n >>> 28)) + b) | 0;
    n = (d + (a ^ b ^ c) + x12 + -421815835) | 0; d = (((n << 11) | (n >>> 21)) + a) | 0;
    n = (c + (d ^ a ^ b) + x15 + 530742520) | 0; c = (((n << 16) | (n >>> 16)) + d) | 0;
    n = (b + (c ^ d ^ a) + x2 + -995338651) | 0; b = (((n << 23) | (n >>> 9)) + c) | 0;
    n = (a + (c ^ (b | ~d)) + x0 + -198630844) | 0; a = (((n << 6) | (n >>> 26)) + b) | 0;
    n = (d + (b ^ (a | ~c)) + x7 + 1126891415) | 0; d = (((n << 10) | (n >>> 22)) + a) | 0;
    n = (c + (a ^ (d | ~b)) + x14 + -1416354905) | 0; c = (((n << 15) | (n >>> 17)) + d) | 0;
    n = (b + (d ^ (c | ~a)) + x5 + -57434055) | 0; b = (((n << 21) | (n >>> 11)) + c) | 0;
    n = (a + (c ^ (b | ~d)) + x12 + 1700485571) | 0; a = (((n << 6) | (n >>> 26)) + b) | 0;
    n = (d + (b ^ (a | ~c)) + x3 + -1894986606) | 0; d = (((n << 10) | (n >>> 22)) + a) | 0;
    n = (c + (a ^ (d | ~b)) + x10 + -1051523) | 0; c = (((n << 15) | (n >>> 17)) + d) | 0;
    n = (b + (d ^ (c | ~a)) + x1 + -2054922799) | 0; b = (((n << 21) | (n >>> 11)) + c) | 0;
    n = (a + (c ^ (b | ~d)) + x8 + 1873313359) | 0; a = (((n << 6) | (n >>> 26)) + b) | 0;
    n = (d + (b ^ (a | ~c)) + x15 + -30611744) | 0; d = (((n << 10) | (n >>> 22)) + a) | 0;
    n = (c + (a ^ (d | ~b)) + x6 + -1560198380) | 0; c = (((n << 15) | (n >>> 17)) + d) | 0;
    n = (b + (d ^ (c | ~a)) + x13 + 1309151649) | 0; b = (((n << 21) | (n >>> 11)) + c) | 0;
    n = (a + (c ^ (b | ~d)) + x4 + -145523070) | 0; a = (((n << 6) | (n >>> 26)) + b) | 0;
    n = (d + (b ^ (a | ~c)) + x11 + -1120210379) | 0; d = (((n << 10) | (n >>> 22)) + a) | 0;
    n = (c + (a ^ (d | ~b)) + x2 + 718787259) | 0; c = (((n << 15) | (n >>> 17)) + d) | 0;
    n = (b + (d ^ (c | ~a)) + x9 + -343485551) | 0; b = (((n << 21) | (n >>> 11)) + c) | 0;
    this.a = (this.a + a) | 0;
    this.b = (this.b + b) | 0;
    this.c = (this.c + c) | 0;
    this.d = (this.d + d) | 0;
  }
}

/** The little-endian 32-bit word at `o`. */
function le32(p: Uint8Array, o: number): number {
  return p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24);
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
