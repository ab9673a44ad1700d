// Which archives an inventory job lists (glacier.md, "Domain records to Glacier JSON"):
// InventoryRetrievalParameters' StartDate (inclusive), EndDate (exclusive), Limit and Marker.
// The marker is the id of the first archive not yet listed, so the source must yield archives
// in ascending id order, as the store lists them.
import type { GlacierInventoryArchive, GlacierInventoryParams } from './wire.js';

export interface InventorySelection {
  archives: AsyncGenerator<GlacierInventoryArchive>;
  /** After `archives` is consumed: the continuation marker, or null when nothing is left. */
  nextMarker(): string | null;
}

export function selectInventory(
  source: AsyncIterable<GlacierInventoryArchive> | Iterable<GlacierInventoryArchive>,
  params: Pick<GlacierInventoryParams, 'startDate' | 'endDate' | 'limit' | 'marker'>,
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
