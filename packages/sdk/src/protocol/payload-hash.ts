// Binds a streamed body to the SHA-256 a SigV4 signature covered (x-amz-content-sha256), glacier.md "Signatures":
// the signature only authenticates the hash, so the bytes must be hashed as they stream and
// refused at the end if they differ.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** The body did not hash to the value the request declared. */
export class PayloadHashMismatchError extends Error {
  override readonly name = 'PayloadHashMismatchError';
  constructor(readonly expected: string, readonly computed: string) {
    super(`The provided 'x-amz-content-sha256' header does not match what was computed: expected ${expected}, computed ${computed}`);
  }
}

/** Feed the body in any chunking, then `verify()` once at the end. */
export class PayloadHashCheck {
  private readonly hash = createHash('sha256');
  private readonly expected: string;
  private bytes = 0;

  constructor(expectedHex: string) {
    this.expected = expectedHex.toLowerCase();
  }

  update(chunk: Uint8Array): this {
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
    return this;
  }

  get size(): number {
    return this.bytes;
  }

  /** The computed hex; throws PayloadHashMismatchError when it is not the expected one. */
  verify(): string {
    const computed = this.hash.digest('hex');
    if (computed !== this.expected) throw new PayloadHashMismatchError(this.expected, computed);
    return computed;
  }
}

/**
 * A pass-through stream that fails with PayloadHashMismatchError at its end when the bytes
 * that went through do not hash to `expectedHex`. A consumer must not commit what it wrote
 * until this stream has finished without error.
 */
export function payloadHashTransform(expectedHex: string): Transform {
  const check = new PayloadHashCheck(expectedHex);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      check.update(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      try {
        check.verify();
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}
