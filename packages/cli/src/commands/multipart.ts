// The multipart steps one by one: createmupload, listmupload, postmpart, listmpart,
// completemupload, deletemupload (upload does all of them at once).
import type { Command } from 'commander';
import { callOk, type UploadJson, type PartJson } from '@oas/sdk';
import { parseVaultAddress } from '../address.js';
import { examples, listOptions, type Runner } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { BAR_MIN, fileSize } from '../files.js';
import { localDate } from '../format.js';
import { startProgress } from '../progress.js';
import { humanSize, parseCount, parseSize } from '../size.js';
import type { Session } from '../session.js';
import { countingFileStream } from './archives.js';
import { hashWithProgress } from './etags.js';

interface ListOpts {
  marker?: string;
  limit?: string;
}

function limitOf(opts: ListOpts): number | undefined {
  return opts.limit === undefined ? undefined : parseCount(opts.limit, '--limit');
}

async function createMupload(s: Session, [address, partSizeText]: string[], opts: { desc?: string }): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const partSize = parseSize(partSizeText!, 'part size');
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  const response = await callOk(api.createMultipartUpload(vaultId, partSize, opts.desc, { signal: s.signal }));
  response.dispose();
  const id = response.getHeader('x-oas-multipart-upload-id');
  if (!id) throw new CliError('the server created the upload but sent no x-oas-multipart-upload-id');
  s.out.result({ MultipartUploadId: id, PartSizeInBytes: partSize }, () => s.out.line(`MultiPartUpload ID: ${id}`));
}

async function listMupload(s: Session, [address]: string[], opts: ListOpts): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const limit = limitOf(opts);
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  const page = await (await callOk(api.listMultipartUpload(vaultId, opts.marker, limit, { signal: s.signal })))
    .json<{ Marker: string; UploadsList: UploadJson[] }>();
  s.out.result(page, () => {
    s.out.line(`Marker: ${page.Marker ?? ''}`);
    s.out.line(`Multipart upload count: ${page.UploadsList.length}`);
    if (page.UploadsList.length === 0) return;
    s.out.line();
    s.out.table(['MultipartUploadId', 'CreationDate', 'PartSize', 'ArchiveDescription'],
      page.UploadsList.map((u) => [u.MultipartUploadId, localDate(u.CreationDate), humanSize(u.PartSizeInBytes), u.ArchiveDescription]));
  });
}

async function postMpart(s: Session, [address, uploadId, path, startText, endText, etagArg, treeEtagArg]: string[]): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const start = parseSize(startText!, 'start');
  const end = parseSize(endText!, 'end');
  if (end < start) throw new UsageError(`bad range ${start}-${end}: end must not be before start`);
  const size = await fileSize(path!);
  if (end >= size) throw new UsageError(`bad range ${start}-${end}: the file has only ${size} bytes`);
  const length = end - start + 1;
  let etag = etagArg?.toUpperCase();
  let treeEtag = treeEtagArg?.toUpperCase();
  if (!etag || !treeEtag) {
    const sums = await hashWithProgress(s, path!, start, length);
    etag ??= sums.etag;
    treeEtag ??= sums.treeEtag;
  }
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  const progress = startProgress(s.out, 'upload', length, { minBarTotal: BAR_MIN, summary: 'uploaded' });
  try {
    const body = countingFileStream(path!, start, end, progress, s.signal);
    (await callOk(api.postMultipartFromReader(vaultId, uploadId!, body, length, `${start}-${end}`, etag, treeEtag, { signal: s.signal }))).dispose();
    progress.stop(true);
  } catch (e) {
    progress.stop(false);
    throw e;
  }
  s.out.result({ MultipartUploadId: uploadId, RangeInBytes: `${start}-${end}`, ContentEtag: etag, TreeEtag: treeEtag },
    () => s.out.line('Upload success'));
}

async function listMpart(s: Session, [address, uploadId]: string[], opts: ListOpts): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const limit = limitOf(opts);
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  const page = await (await callOk(api.listMultipart(vaultId, uploadId!, opts.marker, limit, { signal: s.signal })))
    .json<UploadJson & { Marker: string; Parts: PartJson[] }>();
  s.out.result(page, () => {
    s.out.keyValues([['MultipartUploadId', page.MultipartUploadId], ['CreationDate', localDate(page.CreationDate)],
      ['PartSizeInBytes', page.PartSizeInBytes], ['ArchiveDescription', page.ArchiveDescription], ['Marker', page.Marker]]);
    s.out.line('-'.repeat(52));
    s.out.line(`Part count: ${page.Parts.length}`);
    if (page.Parts.length === 0) return;
    s.out.line('Part Ranges: ');
    const width = Math.max(...page.Parts.map((p) => p.RangeInBytes.length));
    for (const p of page.Parts) s.out.line(`${p.RangeInBytes.padStart(width)}: ${p.ContentEtag}`);
  });
}

async function completeMupload(s: Session, [address, uploadId, sizeText, treeEtagArg]: string[]): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const size = parseSize(sizeText!, 'size');
  const treeEtag = treeEtagArg!.toUpperCase();
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  const response = await callOk(api.completeMultipartUpload(vaultId, uploadId!, size, treeEtag, { signal: s.signal }));
  response.dispose();
  const archiveId = response.getHeader('x-oas-archive-id');
  if (!archiveId) throw new CliError('the server completed the upload but sent no x-oas-archive-id');
  s.out.result({ ArchiveId: archiveId, ArchiveSizeInBytes: size, TreeEtag: treeEtag }, () => s.out.line(`Archive ID: ${archiveId}`));
}

async function deleteMupload(s: Session, [address, uploadId]: string[]): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  (await callOk(api.deleteMultipartUpload(vaultId, uploadId!, { signal: s.signal }))).dispose();
  s.out.result({ MultipartUploadId: uploadId, Deleted: true }, () => s.out.line('Delete success'));
}

export function registerMultipartCommands(program: Command, run: Runner): void {
  program.commandsGroup('Multipart upload commands (the steps upload does for you):');

  const cm = program.command('createmupload').argument('<vault>', 'oas://vault-name').argument('<part_size>', 'part size, e.g. 64M')
    .option('--desc <description>', 'archive description').summary('start a multipart upload')
    .description('Start a multipart upload and print its id. Every part but the last must be exactly part_size '
      + 'bytes: a multiple of 1 MiB from 1M to 4G (32M, 64M, 96M...).')
    .action(run(createMupload));
  examples(cm, [['oascmd createmupload oas://photos 64M --desc "disk image"', 'prints: MultiPartUpload ID: 0C7A...']]);

  const lm = program.command('listmupload').argument('<vault>', 'oas://vault-name').summary('list the open multipart uploads of a vault')
    .description('List the multipart uploads of a vault that are neither completed nor aborted (one page).');
  listOptions(lm, 'uploads').action(run(listMupload));
  examples(lm, [['oascmd listmupload oas://photos', ''], ['oascmd listmupload oas://photos --json', '']]);

  const pm = program.command('postmpart').argument('<vault>', 'oas://vault-name').argument('<upload_id>', 'id createmupload printed')
    .argument('<local_file>', 'file to read the part from')
    .argument('<start>', 'first byte: a multiple of the part size')
    .argument('<end>', 'last byte, inclusive: start + part size - 1, or the last byte of the file')
    .argument('[etag]', 'etag of the part (computed when not given)').argument('[tree_etag]', 'tree etag of the part (computed when not given)')
    .summary('upload one part').description('Upload bytes start..end (inclusive) of a file as one part of a multipart upload.')
    .action(run(postMpart));
  examples(pm, [['oascmd postmpart oas://photos 0C7A... big.iso 0 67108863', 'the first 64 MiB part'],
    ['oascmd postmpart oas://photos 0C7A... big.iso 64M 134217727', 'the second (sizes like 64M work for start and end)']]);

  const lp = program.command('listmpart').argument('<vault>', 'oas://vault-name').argument('<upload_id>', 'multipart upload id')
    .summary('list the parts of a multipart upload').description('Describe a multipart upload and list its uploaded parts (one page).');
  listOptions(lp, 'parts').action(run(listMpart));
  examples(lp, [['oascmd listmpart oas://photos 0C7A...', '']]);

  const cp = program.command('completemupload').argument('<vault>', 'oas://vault-name').argument('<upload_id>', 'multipart upload id')
    .argument('<size>', 'size of the whole archive').argument('<tree_etag>', 'tree etag of the whole file (fileetag prints it)')
    .summary('finish a multipart upload')
    .description('Complete a multipart upload once every part is uploaded; prints the archive id. tree_etag is the '
      + 'parts\' tree etags combined (protocol.md §3.4); with parts of 1 MiB x 2^k (32M, 64M...) that is the whole file\'s '
      + 'tree etag, as fileetag prints it.')
    .action(run(completeMupload));
  examples(cp, [['oascmd completemupload oas://photos 0C7A... 209715200 5E863328970BD2F6C6CE6C8CEA5AEB59', 'prints: Archive ID: ...']]);

  const dm = program.command('deletemupload').argument('<vault>', 'oas://vault-name').argument('<upload_id>', 'multipart upload id')
    .summary('abort a multipart upload').description('Abort a multipart upload; its parts are discarded.')
    .action(run(deleteMupload));
  examples(dm, [['oascmd deletemupload oas://photos 0C7A...', '']]);
}
