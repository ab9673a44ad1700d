// Glacier's inventory output (glacier.md, "Domain records to Glacier JSON"): the JSON and the
// CSV AWS writes, as text chunks of about 64 KiB so that memory stays flat for any vault,
// and the selection of InventoryRetrievalParameters (date window, limit, marker).

export interface GlacierInventoryArchive {
  id: string;
  description: string;
  createdAt: number;
  size: number;
  /** Null only while a backfill has not reached the archive. */
  treeHash: string | null;
}

/** ISO 8601 without milliseconds, as AWS writes InventoryDate. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const CHUNK_CHARS = 64 * 1024;

/** The JSON inventory of the vault `vaultArn`, as text chunks of about 64 KiB. */
export async function* glacierInventoryJson(
  vaultArn: string, inventoryDate: number, archives: AsyncIterable<GlacierInventoryArchive> | Iterable<GlacierInventoryArchive>,
): AsyncGenerator<string> {
  let out = `{"VaultARN":${JSON.stringify(vaultArn)},"InventoryDate":"${isoSeconds(inventoryDate)}","ArchiveList":[`;
  let first = true;
  for await (const a of archives) {
    out += (first ? '' : ',') + JSON.stringify({
      ArchiveId: a.id, ArchiveDescription: a.description, CreationDate: new Date(a.createdAt).toISOString(), Size: a.size, SHA256TreeHash: a.treeHash,
    });
    first = false;
    if (out.length >= CHUNK_CHARS) {
      yield out;
      out = '';
    }
  }
  yield `${out}]}`;
}

export const INVENTORY_CSV_HEADER = 'ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash';

/**
 * A CSV field as AWS writes it: quoted when it holds a comma, a quote or a line break, an
 * inner quote escaped with a backslash (not doubled), backslashes left alone.
 */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '\\"')}"` : value;
}

/** The CSV inventory with its header row, as text chunks of about 64 KiB. */
export async function* glacierInventoryCsv(
  archives: AsyncIterable<GlacierInventoryArchive> | Iterable<GlacierInventoryArchive>,
): AsyncGenerator<string> {
  let out = `${INVENTORY_CSV_HEADER}\n`;
  for await (const a of archives) {
    out += `${[a.id, a.description, new Date(a.createdAt).toISOString(), String(a.size), a.treeHash ?? ''].map(csvField).join(',')}\n`;
    if (out.length >= CHUNK_CHARS) {
      yield out;
      out = '';
    }
  }
  yield out;
}

/** InventoryRetrievalParameters as parsed: times in ms, the limit as a number. */
export interface GlacierInventorySelection {
  startDate: number | null;
  endDate: number | null;
  limit: number | null;
  marker: string | null;
}

export interface InventorySelection {
  archives: AsyncGenerator<GlacierInventoryArchive>;
  /** After `archives` is consumed: the continuation marker, or null when nothing is left. */
  nextMarker(): string | null;
}

/**
 * The archives an inventory job lists: StartDate (inclusive), EndDate (exclusive), Limit and
 * Marker. The marker is the id of the first archive not yet listed, so the source must yield
 * archives in ascending id order.
 */
export function selectInventory(
  source: AsyncIterable<GlacierInventoryArchive> | Iterable<GlacierInventoryArchive>, params: GlacierInventorySelection,
): InventorySelection {
  let next: string | null = null;
  async function* pick(): AsyncGenerator<GlacierInventoryArchive> {
    let listed = 0;
    for await (const archive of source) {
      if (params.startDate !== null && archive.createdAt < params.startDate) continue;
      if (params.endDate !== null && archive.createdAt >= params.endDate) continue;
      if (params.marker !== null && archive.id < params.marker) continue;
      if (params.limit !== null && listed === params.limit) {
        next = archive.id;
        return;
      }
      listed++;
      yield archive;
    }
  }
  return { archives: pick(), nextMarker: () => next };
}
