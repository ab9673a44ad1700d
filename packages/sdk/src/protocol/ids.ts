// Ids: 32 upper-case hex characters (protocol.md §1.2). Clients treat them as opaque; the server
// validates every id in a path with isId before it touches storage.
import { randomBytes } from 'node:crypto';

export function newId(): string {
  return randomBytes(16).toString('hex').toUpperCase();
}

export function isId(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9A-F]{32}$/.test(value);
}
