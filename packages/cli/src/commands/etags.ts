// Checksum commands: fileetag, partetag. Hashing is the SDK's hashFile.
import type { Command } from 'commander';
import { hashFile, MIB, type Checksums } from '@oas/sdk/protocol';
import { examples, type Runner } from '../command.js';
import { UsageError } from '../errors.js';
import { BAR_MIN, fileSize } from '../files.js';
import { startProgress } from '../progress.js';
import { parseSize } from '../size.js';
import type { Session } from '../session.js';

/** Content etag and tree etag of `length` bytes of `path` from `offset`, with progress. */
export async function hashWithProgress(s: Session, path: string, offset: number, length: number): Promise<Checksums> {
  const progress = startProgress(s.out, 'hash', length, { minBarTotal: BAR_MIN });
  try {
    const sums = await hashFile(path, { offset, length, signal: s.signal, onProgress: (done) => progress.update(done) });
    progress.stop(true);
    return sums;
  } catch (e) {
    progress.stop(false);
    throw e;
  }
}

function printSums(s: Session, sums: Checksums, extra: Record<string, unknown> = {}): void {
  s.out.result({ ContentEtag: sums.etag, TreeEtag: sums.treeEtag, Size: sums.size, ...extra }, () => {
    // Exactly the official tool's two lines.
    s.out.line(`etag     : ${sums.etag}`);
    s.out.line(`tree_etag: ${sums.treeEtag}`);
  });
}

async function fileEtag(s: Session, [path]: string[]): Promise<void> {
  const size = await fileSize(path!);
  printSums(s, await hashWithProgress(s, path!, 0, size));
}

/**
 * The range partetag hashes: `start..end` inclusive, except that an `end` which is an
 * exact multiple of 1 MiB is taken as exclusive (the official tool's rule, so that
 * `partetag f 0 64M` means the first 64 MiB).
 */
export function partetagRange(start: number, end: number, fileBytes: number): { start: number; end: number } {
  const last = end % MIB === 0 ? end - 1 : end;
  if (last < start) throw new UsageError(`bad range ${start}-${end}: end must not be before start`);
  if (last >= fileBytes) throw new UsageError(`bad range ${start}-${last}: the file has only ${fileBytes} bytes`);
  return { start, end: last };
}

async function partEtag(s: Session, [path, startText, endText]: string[]): Promise<void> {
  const start = parseSize(startText!, 'start');
  const end = parseSize(endText!, 'end');
  const size = await fileSize(path!);
  const range = partetagRange(start, end, size);
  const sums = await hashWithProgress(s, path!, range.start, range.end - range.start + 1);
  printSums(s, sums, { Start: range.start, End: range.end });
}

export function registerEtagCommands(program: Command, run: Runner): void {
  program.commandsGroup('Checksum commands:');

  const fe = program.command('fileetag').argument('<local_file>', 'file to hash').summary('content etag and tree etag of a file')
    .description('Print the MD5 (etag) and the tree etag (MD5 Merkle tree over 1 MiB blocks) of a file, '
      + 'as sent with postarchive.')
    .action(run(fileEtag));
  examples(fe, [['oascmd fileetag photo.tar', 'prints: etag     : 028BFCC1395093C0DF0DC731DE96E1B5'],
    ['oascmd fileetag photo.tar --json', '{"ContentEtag": ..., "TreeEtag": ..., "Size": ...}']]);

  const pe = program.command('partetag').argument('<local_file>', 'file to read')
    .argument('<start>', 'first byte (sizes like 64M are accepted)')
    .argument('<end>', 'last byte, inclusive; an exact multiple of 1 MiB is taken as exclusive')
    .summary('etags of a byte range of a file (one part)')
    .description('Print the etag and tree etag of bytes start..end of a file, as sent with postmpart. '
      + 'Like the official tool, an end that is an exact multiple of 1 MiB (e.g. 64M) means "up to, '
      + 'not including": `partetag f 0 64M` hashes the first 64 MiB, `partetag f 64M 128M` the next.')
    .action(run(partEtag));
  examples(pe, [['oascmd partetag big.iso 0 64M', 'bytes 0..67108863'], ['oascmd partetag big.iso 64M 134217727', 'bytes 67108864..134217727']]);
}
