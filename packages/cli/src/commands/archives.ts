// Archive commands: postarchive (one request, the official way), deletearchive.
import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { callOk } from '@oas/sdk';
import { parseVaultAddress } from '../address.js';
import { examples, type Runner } from '../command.js';
import { CliError } from '../errors.js';
import { BAR_MIN, fileSize } from '../files.js';
import { startProgress, type Progress } from '../progress.js';
import type { Session } from '../session.js';
import { hashWithProgress } from './etags.js';
import { deleteArchive } from './vaults.js';

/** The official default description: the file name as given, at most 128 characters. */
export function defaultDescription(path: string): string {
  return path.slice(0, 128);
}

/** A file range as a stream that reports the bytes passing through. */
export function countingFileStream(path: string, start: number, end: number, progress: Progress, signal: AbortSignal): Transform {
  let done = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      done += chunk.length;
      progress.update(done);
      callback(null, chunk);
    },
  });
  const file = createReadStream(path, { start, end, highWaterMark: 1024 * 1024, signal });
  file.on('error', (e) => counter.destroy(e));
  counter.on('close', () => file.destroy());
  return file.pipe(counter);
}

async function postArchive(s: Session, [address, path, etagArg, treeEtagArg]: string[], opts: { desc?: string }): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const vaultId = await s.vaultId(vault);
  const size = await fileSize(path!);
  if (size === 0) throw new CliError(`'${path}' is empty: OAS does not store empty archives`);
  let etag = etagArg?.toUpperCase();
  let treeEtag = treeEtagArg?.toUpperCase();
  if (!etag || !treeEtag) {
    const sums = await hashWithProgress(s, path!, 0, size);
    etag ??= sums.etag;
    treeEtag ??= sums.treeEtag;
  }
  const api = await s.api();
  const progress = startProgress(s.out, 'upload', size, { minBarTotal: BAR_MIN, summary: 'uploaded' });
  let archiveId: string | undefined;
  try {
    const body = countingFileStream(path!, 0, size - 1, progress, s.signal);
    const response = await callOk(api.postArchiveFromReader(vaultId, body, size, etag, treeEtag, opts.desc ?? defaultDescription(path!),
      { signal: s.signal }));
    response.dispose();
    archiveId = response.getHeader('x-oas-archive-id');
    progress.stop(true);
  } catch (e) {
    progress.stop(false);
    throw e;
  }
  if (!archiveId) throw new CliError('the server stored the archive but sent no x-oas-archive-id');
  s.out.result({ ArchiveId: archiveId, ContentEtag: etag, TreeEtag: treeEtag, ArchiveSizeInBytes: size },
    () => s.out.line(`Archive ID: ${archiveId}`));
}

export function registerArchiveCommands(program: Command, run: Runner): void {
  program.commandsGroup('Archive commands:');

  const pa = program.command('postarchive').argument('<vault>', 'oas://vault-name').argument('<local_file>', 'file to upload')
    .argument('[etag]', 'its etag, as fileetag prints it (computed when not given)')
    .argument('[tree_etag]', 'its tree etag (computed when not given)')
    .option('--desc <description>', 'archive description (default: the file name, first 128 characters)')
    .summary('upload a file in one request')
    .description('Upload a file as one archive in a single request (the service accepts up to 6 GiB this way; '
      + 'use upload for anything large: it is parallel and resumable). Prints the archive id.')
    .action(run(postArchive));
  examples(pa, [['oascmd postarchive oas://photos 2019.tar', 'prints: Archive ID: 0E3F...'],
    ['oascmd postarchive oas://photos 2019.tar 028BFC... 2B016A... --desc "photos 2019"', 'with etags from fileetag']]);

  const da = program.command('deletearchive').argument('<vault>', 'oas://vault-name').argument('<archive_id>', 'archive to delete')
    .summary('delete an archive').description('Delete an archive.')
    .action(run(async (s, [address, archiveId]) => deleteArchive(s, parseVaultAddress(address!).vault, archiveId!)));
  examples(da, [['oascmd deletearchive oas://photos 0E3F...', '']]);
}
