// upload: any size, parallel, resumable by upload id; the transfer itself is the SDK's
// uploadArchive.
import type { Command } from 'commander';
import { calcPartSize, uploadArchive, OASError, PartMismatchError, type UploadResult } from '@oas/sdk';
import { parseVaultAddress } from '../address.js';
import { examples, type Runner, type Runtime } from '../command.js';
import { CliError, UsageError, isAbort } from '../errors.js';
import { BAR_MIN, fileSize } from '../files.js';
import { startProgress } from '../progress.js';
import { optionalSize, parseCount, shortSize } from '../size.js';
import type { Session } from '../session.js';
import { defaultDescription } from './archives.js';

interface UploadOpts {
  partSize?: string;
  desc?: string;
  concurrency?: string;
}

/** Shell-quotes a word for the resume hint when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

async function upload(s: Session, runtime: Runtime, [address, path, uploadId]: string[], opts: UploadOpts): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const stdin = path === '-';
  const partSize = optionalSize(opts.partSize, 'part size');
  const concurrency = opts.concurrency === undefined ? undefined : parseCount(opts.concurrency, '--concurrency');
  const size = stdin ? undefined : await fileSize(path!);
  if (size === 0) throw new CliError(`'${path}' is empty: OAS does not store empty archives`);
  if (partSize !== undefined) {
    try {
      calcPartSize(size, partSize);
    } catch (e) {
      throw new UsageError(`bad part size ${opts.partSize}: ${(e as Error).message}`);
    }
  }
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  const description = opts.desc ?? (stdin ? undefined : defaultDescription(path!));
  let currentId = uploadId;
  const resumeHint = (id: string): string => `    oascmd upload ${shellWord(address!)} ${stdin ? '<file with the same bytes>' : shellWord(path!)} ${id}`;

  const progress = startProgress(s.out, 'upload', size, { minBarTotal: BAR_MIN, summary: 'uploaded' });
  let result: UploadResult;
  try {
    result = await uploadArchive(api, vaultId, stdin ? runtime.stdin : path!, {
      description, partSize, concurrency, signal: s.signal, uploadId,
      onUploadId: (id) => {
        currentId = id;
        // Shown at once (even with --quiet), so an interrupted upload can be resumed.
        if (uploadId) s.out.note(`Resuming MultiPartUpload ID: ${id}`);
        else s.out.important(`MultiPartUpload ID: ${id}`);
      },
      onProgress: ({ done, total }) => progress.update(done, total ?? undefined),
    });
    progress.stop(true, result.bytesReused ?? 0);
  } catch (e) {
    progress.stop(false);
    if (uploadId && e instanceof OASError && e.code === 'MultipartUploadNotExist') {
      // Nothing to resume: the id is wrong, or the upload was completed, cancelled or expired.
      throw new CliError(`there is no multipart upload ${uploadId} in ${address} (${e.message}); `
        + `start a new upload without an id (oascmd upload ${shellWord(address!)} ${stdin ? '-' : shellWord(path!)}), `
        + `or list the open ones with: oascmd listmupload ${shellWord(address!)}`);
    }
    if (currentId && (isAbort(e) || !(e instanceof PartMismatchError))) {
      s.out.important(`${isAbort(e) ? 'Upload interrupted' : 'Upload failed'}; to resume it:\n${resumeHint(currentId)}`);
    }
    if (e instanceof PartMismatchError) throw new CliError(`cannot resume upload ${currentId}: ${e.message}`);
    if (e instanceof RangeError) throw new CliError(e.message);
    throw e;
  }
  const json = {
    ArchiveId: result.archiveId, TreeEtag: result.treeEtag, ArchiveSizeInBytes: result.size,
    ...(result.uploadId ? { MultipartUploadId: result.uploadId } : {}), Parts: result.parts, PartsReused: result.partsReused ?? 0,
  };
  s.out.result(json, () => {
    const reused = result.partsReused ? `, ${result.partsReused} already uploaded` : '';
    s.out.note(`Uploaded ${shortSize(result.size)} in ${result.parts} part${result.parts === 1 ? '' : 's'}${reused}; tree etag ${result.treeEtag}`);
    s.out.line(`Archive ID: ${result.archiveId}`);
  });
}

export function registerUploadCommand(program: Command, run: Runner, runtime: Runtime): void {
  const up = program.command('upload').argument('<vault>', 'oas://vault-name')
    .argument('<file>', 'file to upload, or - for standard input')
    .argument('[uploadid]', 'MultiPartUpload ID of an interrupted upload to resume')
    .option('-p, --part-size <size>', 'multipart part size: a multiple of 1 MiB up to 4G, e.g. 32M, 64M, 96M (default 64M, grown for huge files)')
    .option('--desc <description>', 'archive description (default: the file name, first 128 characters)')
    .option('--concurrency <n>', 'parts in flight at once (default 4); memory is about part size x this')
    .summary('upload a file of any size (parallel, resumable)')
    .description('Upload a file as one archive. Up to 64 MiB it goes in one request; larger files (and '
      + 'standard input longer than that) go in a multipart upload whose parts are sent in parallel, '
      + 'each with its checksums, retried on network errors and 5xx. The MultiPartUpload ID is printed '
      + 'as soon as it exists: if the upload is interrupted (Ctrl-C, a crash, the network), run the '
      + 'same command with that id to resume; parts already on the server are checked against the '
      + 'file and only the missing ones are sent. Prints the archive id at the end, and on stderr how '
      + 'long the upload took (uploaded 2.0 GiB in 14.5 s (141 MiB/s)).')
    .action(run<UploadOpts>((s, args, opts) => upload(s, runtime, args, opts)));
  examples(up, [
    ['oascmd upload oas://backup disk.img', 'prints: MultiPartUpload ID: ... then Archive ID: ...'],
    ['oascmd upload oas://backup disk.img 0C7A3B...', 'resume that upload after an interruption'],
    ['oascmd upload oas://backup disk.img -p 256M --concurrency 8', 'bigger parts, more in flight'],
    ['oascmd upload oas://backup disk.img -p 96M', 'any multiple of 1 MiB works as a part size'],
    ['tar c photos/ | oascmd upload oas://backup - --desc "photos.tar"', 'from standard input'],
    ['oascmd upload oas://backup disk.img --json', '{"ArchiveId": ..., "TreeEtag": ..., ...}'],
  ]);
}
