// List pagination of protocol.md §4.4: `marker` is the inclusive start of the page
// (an id, or a part's range start), empty = from the beginning; `Marker` in the
// response is the next page's first item, "" at the end.
import { isId } from '@oas/sdk/protocol';
import { InvalidRequestError } from './errors.js';
import type { Page } from '../store/meta/types.js';

export interface ListQuery {
  /** undefined when absent; '' for `marker=` or a bare `marker`. */
  marker?: string | undefined;
  limit?: string | undefined;
}

export const VAULT_PAGE = { def: 10, max: 10 };
export const OTHER_PAGE = { def: 50, max: 1000 };

/** The page size: absent or empty = default; a positive integer, clamped to the maximum. */
export function pageLimit(text: string | undefined, page: { def: number; max: number }): number {
  if (text === undefined || text === '') return page.def;
  if (!/^\d+$/.test(text) || /^0+$/.test(text)) throw new InvalidRequestError('argument', 'limit must be a positive integer');
  const n = Number(text);
  return Number.isFinite(n) && n < page.max ? n : page.max;
}

/** An id marker: null = from the start; a malformed id is an invalid marker. */
export function idMarker(text: string | undefined): string | null {
  if (text === undefined || text === '') return null;
  if (!isId(text)) throw new InvalidRequestError('argument', 'marker is not a valid marker');
  return text;
}

/** A part marker: a range start in decimal. */
export function partMarker(text: string | undefined): number | null {
  if (text === undefined || text === '') return null;
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) throw new InvalidRequestError('argument', 'marker is not a valid marker');
  return Number(text);
}

/** An inclusive marker must name an existing item: the page must start with it. */
export function checkMarkerFound<T>(page: Page<T>, marker: string | number | null, keyOf: (item: T) => string | number): void {
  if (marker === null) return;
  const first = page.items[0];
  if (first === undefined || keyOf(first) !== marker) {
    throw new InvalidRequestError('argument', 'marker does not name an item of this listing (unknown marker)');
  }
}

export function nextMarker(page: Page<unknown>): string {
  return page.next ?? '';
}
