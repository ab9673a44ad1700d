// The OAS operations: read the request's headers and body, call the service, render the
// result in OAS JSON and headers.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OASError, parseContentRange, parseRangeHeader } from '@oas/sdk/protocol';
import { deleteArchive, getArchive, uploadArchive } from '../../service/archives.js';
import type { ServiceContext } from '../../service/context.js';
import type { BodyChecks } from '../../service/ingest.js';
import { getJob, initiateJob, jobOutput, listJobs } from '../../service/jobs.js';
import { abortUpload, completeUpload, initiateUpload, listParts, listUploads, uploadPart } from '../../service/multipart.js';
import type { VaultRecord } from '../../service/records.js';
import { createVault, deleteVault, getVault, listVaults, vaultInfo } from '../../service/vaults.js';
import { readSmallBody } from '../body.js';
import type { Handler } from '../frontend.js';
import { header, queryParam, sendEmpty, sendJson, signedHeader } from '../state.js';
import * as H from './headers.js';
import { MAX_JOB_BODY, parseJobRequest } from './job-request.js';
import { archiveMetaJson, jobJson, jobListJson, partListJson, uploadListJson, vaultJson, vaultListJson } from './json.js';
import { parseCompleteTreeEtag, parseContentLength, parseEtag, parseSizeHeader } from './parse.js';

function listQuery(req: FastifyRequest) {
  return { marker: queryParam(req, 'marker'), limit: queryParam(req, 'limit') };
}

/** A vault name in the path: percent-escapes decoded (names never need them). */
function pathName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The byte range a part holds (Content-Range: `start-end` or `bytes start-end/*`). */
function partRange(req: FastifyRequest) {
  const text = header(req, 'content-range');
  if (text === undefined) throw OASError.of('InvalidArgument', 'Content-Range is required');
  const range = parseContentRange(text);
  if (!range) throw OASError.of('InvalidArgument', 'Content-Range must be "start-end" or "bytes start-end/*"');
  return range;
}

/** The body's checksums as an OAS client gives them: content MD5 and MD5 tree etag. */
function oasChecks(req: FastifyRequest): BodyChecks {
  const etag = parseEtag(signedHeader(req, H.CONTENT_ETAG), H.CONTENT_ETAG);
  return { etag, trees: { md5: parseEtag(signedHeader(req, H.TREE_ETAG), H.TREE_ETAG) } };
}

export function buildHandlers(ctx: ServiceContext) {
  const account = (req: FastifyRequest) => {
    if (!req.call.account) throw OASError.of('AccessDenied', 'the request is not authenticated');
    return req.call.account;
  };
  const vaultOf = (req: FastifyRequest): Promise<VaultRecord> => getVault(ctx, account(req).id, req.call.params[0]!);
  const vaultPath = (vault: VaultRecord) => `/vaults/${vault.id}`;

  const handlers = {
    async CreateVault(req, reply) {
      const vault = await createVault(ctx, account(req).id, pathName(req.call.params[0]!));
      return sendEmpty(reply, 201, { location: vaultPath(vault), [H.VAULT_ID]: vault.id });
    },
    async DescribeVault(req, reply) {
      return sendJson(reply, 200, vaultJson(vaultInfo(ctx, await vaultOf(req))));
    },
    async ListVaults(req, reply) {
      return sendJson(reply, 200, vaultListJson(await listVaults(ctx, account(req).id, listQuery(req))));
    },
    async DeleteVault(req, reply) {
      await deleteVault(ctx, account(req).id, req.call.params[0]!);
      return sendEmpty(reply, 204);
    },
    async UploadArchive(req, reply) {
      const vault = await vaultOf(req);
      const size = parseContentLength(header(req, 'content-length'), 'a single-request archive');
      const archive = await uploadArchive(ctx, vault, {
        size,
        checks: oasChecks(req),
        description: signedHeader(req, H.ARCHIVE_DESCRIPTION),
        body: req.raw,
      });
      req.call.bytesIn = archive.size;
      return sendEmpty(reply, 201, { location: `${vaultPath(vault)}/archives/${archive.id}`, [H.ARCHIVE_ID]: archive.id });
    },
    async DeleteArchive(req, reply) {
      await deleteArchive(ctx, await vaultOf(req), req.call.params[1]!);
      return sendEmpty(reply, 204);
    },
    async GetArchiveMeta(req, reply) {
      return sendJson(reply, 200, archiveMetaJson(await getArchive(ctx, await vaultOf(req), req.call.params[1]!)));
    },
    async InitiateMultipartUpload(req, reply) {
      const vault = await vaultOf(req);
      const partSize = parseSizeHeader(signedHeader(req, H.PART_SIZE), H.PART_SIZE, 'a multiple of 1 MiB (1048576) from 1 MiB to 4 GiB');
      const upload = await initiateUpload(ctx, vault, partSize, signedHeader(req, H.ARCHIVE_DESCRIPTION));
      return sendEmpty(reply, 201, { location: `${vaultPath(vault)}/multipart-uploads/${upload.id}`, [H.UPLOAD_ID]: upload.id });
    },
    async ListMultipartUploads(req, reply) {
      return sendJson(reply, 200, uploadListJson(await listUploads(ctx, await vaultOf(req), listQuery(req))));
    },
    async UploadPart(req, reply) {
      const vault = await vaultOf(req);
      const part = await uploadPart(ctx, vault, req.call.params[1]!, {
        range: partRange(req),
        size: parseContentLength(header(req, 'content-length'), 'a part'),
        checks: oasChecks(req),
        body: req.raw,
      });
      req.call.bytesIn = part.end - part.start + 1;
      return sendEmpty(reply, 204);
    },
    async ListParts(req, reply) {
      const { upload, parts } = await listParts(ctx, await vaultOf(req), req.call.params[1]!, listQuery(req));
      return sendJson(reply, 200, partListJson(upload, parts));
    },
    async CompleteMultipartUpload(req, reply) {
      const vault = await vaultOf(req);
      const size = parseSizeHeader(signedHeader(req, H.ARCHIVE_SIZE), H.ARCHIVE_SIZE, 'a positive number of bytes');
      const treeEtag = parseCompleteTreeEtag(signedHeader(req, H.TREE_ETAG));
      const archiveId = await completeUpload(ctx, vault, req.call.params[1]!, size, treeEtag);
      return sendEmpty(reply, 201, { location: `${vaultPath(vault)}/archives/${archiveId}`, [H.ARCHIVE_ID]: archiveId });
    },
    async AbortMultipartUpload(req, reply) {
      await abortUpload(ctx, await vaultOf(req), req.call.params[1]!);
      return sendEmpty(reply, 204);
    },
    async InitiateJob(req, reply) {
      const vault = await vaultOf(req);
      const body = await readSmallBody(req.raw, MAX_JOB_BODY);
      req.call.bytesIn = body.byteLength;
      const job = await initiateJob(ctx, vault, parseJobRequest(body.toString('utf8')));
      return sendEmpty(reply, 202, { location: `${vaultPath(vault)}/jobs/${job.id}`, [H.JOB_ID]: job.id });
    },
    async ListJobs(req, reply) {
      return sendJson(reply, 200, jobListJson(await listJobs(ctx, await vaultOf(req), listQuery(req))));
    },
    async DescribeJob(req, reply) {
      return sendJson(reply, 200, jobJson(await getJob(ctx, await vaultOf(req), req.call.params[1]!)));
    },
    async GetJobOutput(req, reply) {
      const rangeText = header(req, 'range');
      const range = rangeText === undefined || rangeText === '' ? null : parseRangeHeader(rangeText) ?? 'unreadable';
      const out = await jobOutput(ctx, await vaultOf(req), req.call.params[1]!, range);
      const length = out.end - out.start + 1;
      reply.code(out.ranged ? 206 : 200)
        .header('content-type', out.kind === 'inventory' ? 'application/json' : 'application/octet-stream')
        .header('content-length', length);
      if (out.ranged) reply.header('content-range', `bytes ${out.start}-${out.end}/${out.size}`);
      if (out.treeEtag) reply.header(H.TREE_ETAG, out.treeEtag);
      req.call.bytesOut = length;
      return reply.send(out.body);
    },
  } satisfies Record<string, Handler>;
  return handlers;
}
