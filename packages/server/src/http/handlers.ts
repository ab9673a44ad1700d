// The OAS operations: parse and validate the request, call the service, map the result.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OASError } from '@oas/sdk/protocol';
import type { ServiceContext } from '../service/context.js';
import { archiveMetaJson, deleteArchive, getArchive, uploadArchive } from '../service/archives.js';
import { MAX_JOB_BODY, getJob, initiateJob, jobJson, jobOutput, listJobs } from '../service/jobs.js';
import {
  abortUpload, completeUpload, initiateUpload, listParts, listUploads, uploadPart,
} from '../service/multipart.js';
import { createVault, deleteVault, getVault, listVaults, vaultJson } from '../service/vaults.js';
import type { VaultRecord } from '../store/meta/types.js';
import { readSmallBody } from './body.js';
import { header, oasHeader, queryParam, sendEmpty, sendJson } from './state.js';

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

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

export function buildHandlers(ctx: ServiceContext) {
  const account = (req: FastifyRequest) => {
    if (!req.oas.account) throw OASError.of('AccessDenied', 'the request is not authenticated');
    return req.oas.account;
  };
  const vaultOf = (req: FastifyRequest): Promise<VaultRecord> => getVault(ctx, account(req).id, req.oas.params[0]!);
  const vaultPath = (vault: VaultRecord) => `/vaults/${vault.id}`;

  const handlers = {
    async CreateVault(req, reply) {
      const vault = await createVault(ctx, account(req).id, pathName(req.oas.params[0]!));
      return sendEmpty(reply, 201, { location: vaultPath(vault), 'x-oas-vault-id': vault.id });
    },
    async DescribeVault(req, reply) {
      return sendJson(reply, 200, vaultJson(ctx, await vaultOf(req)));
    },
    async ListVaults(req, reply) {
      return sendJson(reply, 200, await listVaults(ctx, account(req).id, listQuery(req)));
    },
    async DeleteVault(req, reply) {
      await deleteVault(ctx, account(req).id, req.oas.params[0]!);
      return sendEmpty(reply, 204);
    },
    async UploadArchive(req, reply) {
      const vault = await vaultOf(req);
      const archive = await uploadArchive(ctx, vault, {
        contentLength: header(req, 'content-length'),
        contentEtag: oasHeader(req, 'x-oas-content-etag'),
        treeEtag: oasHeader(req, 'x-oas-tree-etag'),
        description: oasHeader(req, 'x-oas-archive-description'),
        body: req.raw,
      });
      req.oas.bytesIn = archive.size;
      return sendEmpty(reply, 201, { location: `${vaultPath(vault)}/archives/${archive.id}`, 'x-oas-archive-id': archive.id });
    },
    async DeleteArchive(req, reply) {
      await deleteArchive(ctx, await vaultOf(req), req.oas.params[1]!);
      return sendEmpty(reply, 204);
    },
    async GetArchiveMeta(req, reply) {
      return sendJson(reply, 200, archiveMetaJson(await getArchive(ctx, await vaultOf(req), req.oas.params[1]!)));
    },
    async InitiateMultipartUpload(req, reply) {
      const vault = await vaultOf(req);
      const upload = await initiateUpload(ctx, vault, oasHeader(req, 'x-oas-part-size'), oasHeader(req, 'x-oas-archive-description'));
      return sendEmpty(reply, 201, {
        location: `${vaultPath(vault)}/multipart-uploads/${upload.id}`, 'x-oas-multipart-upload-id': upload.id,
      });
    },
    async ListMultipartUploads(req, reply) {
      return sendJson(reply, 200, await listUploads(ctx, await vaultOf(req), listQuery(req)));
    },
    async UploadPart(req, reply) {
      const vault = await vaultOf(req);
      const part = await uploadPart(ctx, vault, req.oas.params[1]!, {
        contentLength: header(req, 'content-length'),
        contentRange: header(req, 'content-range'),
        contentEtag: oasHeader(req, 'x-oas-content-etag'),
        treeEtag: oasHeader(req, 'x-oas-tree-etag'),
        body: req.raw,
      });
      req.oas.bytesIn = part.end - part.start + 1;
      return sendEmpty(reply, 204);
    },
    async ListParts(req, reply) {
      return sendJson(reply, 200, await listParts(ctx, await vaultOf(req), req.oas.params[1]!, listQuery(req)));
    },
    async CompleteMultipartUpload(req, reply) {
      const vault = await vaultOf(req);
      const archiveId = await completeUpload(ctx, vault, req.oas.params[1]!, oasHeader(req, 'x-oas-archive-size'), oasHeader(req, 'x-oas-tree-etag'));
      return sendEmpty(reply, 201, { location: `${vaultPath(vault)}/archives/${archiveId}`, 'x-oas-archive-id': archiveId });
    },
    async AbortMultipartUpload(req, reply) {
      await abortUpload(ctx, await vaultOf(req), req.oas.params[1]!);
      return sendEmpty(reply, 204);
    },
    async InitiateJob(req, reply) {
      const vault = await vaultOf(req);
      const body = await readSmallBody(req.raw, MAX_JOB_BODY);
      req.oas.bytesIn = body.byteLength;
      const job = await initiateJob(ctx, vault, body.toString('utf8'));
      return sendEmpty(reply, 202, { location: `${vaultPath(vault)}/jobs/${job.id}`, 'x-oas-job-id': job.id });
    },
    async ListJobs(req, reply) {
      return sendJson(reply, 200, await listJobs(ctx, await vaultOf(req), listQuery(req)));
    },
    async DescribeJob(req, reply) {
      return sendJson(reply, 200, jobJson(await getJob(ctx, await vaultOf(req), req.oas.params[1]!)));
    },
    async GetJobOutput(req, reply) {
      const out = await jobOutput(ctx, await vaultOf(req), req.oas.params[1]!, header(req, 'range'));
      reply.code(out.status).header('content-type', out.contentType).header('content-length', out.length);
      if (out.contentRange) reply.header('content-range', out.contentRange);
      if (out.treeEtag) reply.header('x-oas-tree-etag', out.treeEtag);
      req.oas.bytesOut = out.length;
      return reply.send(out.body);
    },
  } satisfies Record<string, Handler>;
  return handlers;
}

export type Handlers = ReturnType<typeof buildHandlers>;
export type OperationName = keyof Handlers;
