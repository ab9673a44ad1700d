// CompleteMultipartUpload's checks (glacier.md, "Checksums"): the parts cover the declared
// archive size with no gap, every part but the last is exactly the part size, and the parts'
// tree hashes combine into the client's. On a failure the upload stays open for a retry.
import { combineTreeHashes } from '@oas/sdk';
import { GlacierFailure, type GlacierProblem } from './errors.js';
import type { GlacierPartRecord } from './wire.js';

function refuse(problem: GlacierProblem): never {
  throw new GlacierFailure(problem);
}

/** The archive's tree hash, computed from `parts` (any order); throws when Complete must fail. */
export function checkCompleteUpload(
  parts: readonly GlacierPartRecord[], partSize: number, archiveSize: number, clientTreeHash: string,
): string {
  const byStart = new Map(parts.map((p) => [p.start, p]));
  const count = Math.ceil(archiveSize / partSize);
  if (count === 0) refuse({ kind: 'invalid-parameter', message: 'An archive of 0 bytes cannot be completed: upload at least one part.' });
  for (const p of parts) {
    if (p.end >= archiveSize) {
      refuse({ kind: 'invalid-parameter', message: `The part bytes ${p.start}-${p.end} lies beyond the archive size ${archiveSize}.` });
    }
  }
  const roots: string[] = [];
  for (let i = 0; i < count; i++) {
    const start = i * partSize;
    const end = Math.min(start + partSize, archiveSize) - 1;
    const part = byStart.get(start);
    if (part === undefined) refuse({ kind: 'invalid-parameter', message: `Missing part bytes ${start}-${end} of the ${archiveSize}-byte archive.` });
    if (part.end !== end) {
      refuse({ kind: 'invalid-parameter',
        message: `The part bytes ${part.start}-${part.end} is ${part.end - part.start + 1} bytes; it must be ${end - start + 1} (only the last part may be shorter than the part size ${partSize}).` });
    }
    roots.push(part.treeHash);
  }
  const computed = combineTreeHashes(roots);
  if (computed !== clientTreeHash.toLowerCase()) refuse({ kind: 'checksum-mismatch', expected: clientTreeHash, computed });
  return computed;
}
