// The inventory job's output (protocol.md §4.16) as typed objects.
import { emptyToNull, toDate } from './model.js';
import type { InventoryJson } from '../protocol/wire-types.js';

export interface InventoryArchive {
  archiveId: string;
  description: string | null;
  creationDate: Date;
  size: number;
  treeEtag: string;
}

export interface Inventory {
  vaultId: string;
  inventoryDate: Date;
  archives: InventoryArchive[];
}

/** Parses inventory output (JSON text, bytes or the parsed object); throws on a malformed list. */
export function parseInventory(input: string | Uint8Array | InventoryJson): Inventory {
  const json: unknown = typeof input === 'string' ? JSON.parse(input)
    : input instanceof Uint8Array ? JSON.parse(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8'))
      : input;
  if (!json || typeof json !== 'object') throw new TypeError('inventory output is not a JSON object');
  const { VaultId, InventoryDate, ArchiveList } = json as Partial<InventoryJson>;
  if (!Array.isArray(ArchiveList)) throw new TypeError('inventory output has no ArchiveList array');
  return {
    vaultId: String(VaultId ?? ''),
    inventoryDate: requireDate(InventoryDate, 'InventoryDate'),
    archives: ArchiveList.map((a, i) => {
      if (!a || typeof a !== 'object' || typeof a.ArchiveId !== 'string') throw new TypeError(`inventory archive ${i} has no ArchiveId`);
      return {
        archiveId: a.ArchiveId,
        description: emptyToNull(a.ArchiveDescription),
        creationDate: requireDate(a.CreationDate, `ArchiveList[${i}].CreationDate`),
        size: Number(a.Size),
        treeEtag: String(a.TreeEtag ?? '').toUpperCase(),
      };
    }),
  };
}

function requireDate(text: string | undefined, what: string): Date {
  const date = toDate(text);
  if (!date) throw new TypeError(`inventory ${what} is not a date: ${JSON.stringify(text)}`);
  return date;
}
