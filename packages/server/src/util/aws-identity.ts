// AWS-shaped identities (glacier.md, "Routing and accounts"): a 12-digit account id per
// account, and access keys in AWS's shape. Some tools (mt-aws-glacier) refuse any key that
// is not a 20-character alphanumeric id with a 40-character secret.
import { createHash, randomInt } from 'node:crypto';

function randomString(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/**
 * The account's 12-digit id, derived from its internal id: stable across restarts, nodes,
 * backends and copy-data with nothing stored (docs/decisions.md). Access is decided by the
 * signing key, never by this id, so it only names the account in paths and ARNs.
 */
export function awsAccountIdOf(internalAccountId: string): string {
  const digest = createHash('sha256').update(`oas-account:${internalAccountId}`).digest();
  return (digest.readBigUInt64BE(0) % 1_000_000_000_000n).toString().padStart(12, '0');
}

/** 12 random decimal digits. */
export function newAccountId(): string {
  return randomString('0123456789', 12);
}

/** `AKIA` and 16 characters of AWS's base32 alphabet: 20 alphanumerics. */
export function newAwsAccessKeyId(): string {
  return `AKIA${randomString('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`;
}

/** 40 characters of base64's alphabet, as AWS secrets are. */
export function newAwsSecretAccessKey(): string {
  return randomString('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 40);
}

/** The key shape strict Glacier tools accept: 20 alphanumerics and 40 printable characters. */
export function isAwsShapedKey(accessKeyId: string, secret: string): boolean {
  return /^[A-Za-z0-9]{20}$/.test(accessKeyId) && /^[\x21-\x7e]{40}$/.test(secret);
}
