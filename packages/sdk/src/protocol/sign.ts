// Request signing, protocol.md §2: HMAC-SHA1 over VERB, Date, the x-oas-* headers and the
// canonical resource. Clients sign with it and the server verifies with the same code. The
// canonicalization lives in sign-core.ts (shared with the browser console).
import { createHmac, timingSafeEqual } from 'node:crypto';

export * from './sign-core.js';

/** Base64 HMAC-SHA1 of the string to sign, keyed with the secret (28 characters). */
export function computeSignature(accessKeySecret: string, toSign: string): string {
  return createHmac('sha1', accessKeySecret).update(toSign, 'utf8').digest('base64');
}

/** Constant-time comparison of two signatures. */
export function signaturesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
