// Typed views of the wire JSON: Dates instead of RFC 1123 text, null instead of "" / -1.
import { parseRfc1123 } from '../protocol/dates.js';
import { parseRange, type ByteRange } from '../protocol/ranges.js';
import type { ArchiveJson, PartJson, UploadJson } from '../protocol/wire-types.js';

/** An RFC 1123 date (or anything Date.parse reads); null when empty or unreadable. */
export function toDate(text: string | undefined | null): Date | null {
  if (!text) return null;
  const ms = parseRfc1123(text) ?? Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms);
}

export function emptyToNull(text: string | undefined | null): string | null {
  return text === undefined || text === null || text === '' ? null : text;
}

/** Sizes the protocol writes as -1 when not applicable. */
export function sizeOrNull(value: number | undefined | null): number | null {
  return typeof value === 'number' && value >= 0 ? value : null;
}

/** An open multipart upload (list multipart uploads, list parts). */
export interface UploadInfo {
  id: string;
  creationDate: Date | null;
  partSize: number;
  description: string | null;
}

export function toUploadInfo(json: UploadJson): UploadInfo {
  return {
    id: json.MultipartUploadId,
    creationDate: toDate(json.CreationDate),
    partSize: json.PartSizeInBytes,
    description: emptyToNull(json.ArchiveDescription),
  };
}

/** A part on the server, or one just sent. */
export interface PartInfo {
  range: ByteRange;
  contentEtag: string;
  treeEtag: string;
}

export function toPartInfo(json: PartJson): PartInfo {
  const range = parseRange(json.RangeInBytes);
  if (!range) throw new Error(`the server listed a part with an unreadable range ${JSON.stringify(json.RangeInBytes)}`);
  return { range, contentEtag: (json.ContentEtag ?? '').toUpperCase(), treeEtag: (json.TreeEtag ?? '').toUpperCase() };
}

/** Archive metadata (head archive). */
export interface ArchiveInfo {
  id: string;
  description: string | null;
  creationDate: Date | null;
  size: number;
  treeEtag: string | null;
}

export function toArchiveInfo(json: ArchiveJson, id: string): ArchiveInfo {
  return {
    id: json.ArchiveId || id,
    description: emptyToNull(json.ArchiveDescription),
    creationDate: toDate(json.CreationDate),
    size: json.ArchiveSizeInBytes,
    treeEtag: emptyToNull(json.ArchiveTreeEtag),
  };
}
