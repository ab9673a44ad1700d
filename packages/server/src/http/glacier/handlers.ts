// The 16 core Glacier operations (docs/glacier.md): read Glacier's headers and bodies with
// wire.ts, call the same service functions as OAS, answer with responses.ts and wire.ts.
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  PayloadHashCheck, combineTreeEtags, formatRange, isId, outputTreeHashRange, parseRange,
} from '@oas/sdk';
import { deleteArchive, getArchive, uploadArchive } from '../../service/archives.js';
import type { ServiceContext } from '../../service/context.js';
import { NotFoundError } from '../../service/errors.js';
import { glacierFrontEnd, glacierJobFields, type GlacierJobFields } from '../../service/glacier-jobs.js';
import { getJob, initiateJob, outputSource, readOutput } from '../../service/jobs.js';
import { abortUpload, completeUpload, initiateUpload, listParts, listUploads, uploadPart } from '../../service/multipart.js';
import type { JobRecord, VaultRecord } from '../../service/records.js';
import { sha256TreeOfRange } from '../../service/segments.js';
import { createVault, deleteVault, vaultInfo } from '../../service/vaults.js';
import type { Handler } from '../frontend.js';
import { header, queryParam, sendJson } from '../state.js';
import { readSmallBody } from './auth.js';
import { checkCompleteUpload } from './complete.js';
import { buildSideHandlers } from './side.js';
import { NO_TIER_DELAYS, type TierDelays } from './tiers.js';
import { GlacierFailure } from './errors.js';
import {
  NO_CONTENT, archiveCreatedReply, createVaultReply, jobInitiatedReply, jobOutputReply, partUploadedReply, uploadInitiatedReply,
  type GlacierReply,
} from './responses.js';
import { listJobsPage, parseJobMarker } from './list-jobs.js';
import { archiveRangeTreeHash, jobRecord, vaultRecord } from './views.js';
import {
  checkSingleUploadLength, isGlacierVaultName, jobJson, jobRange, listJobsJson, listPartsJson, listUploadsJson, listVaultsJson,
  parseArchiveDescription, parseArchiveSize, parseJobFilters, parseJobParameters, parseLimit, parseOutputRange, parsePartRange,
  parsePartSize, parseRetrievalByteRange, parseSha256Header, vaultArn, vaultJson, vaultNameFromArn,
  type GlacierContext, type GlacierJobRecord, type GlacierPartRecord,
} from './wire.js';

/** What authentication established for a request. */
export interface GlacierCall {
  gctx: GlacierContext;
  /** The payload hash the signature covers, and whether the body must still be checked against it. */
  payloadHash: string;
  bodyCheckNeeded: boolean;
}

export type GlacierCalls = WeakMap<FastifyRequest, GlacierCall>;

export interface GlacierAdmission {
  admitWithBody(req: FastifyRequest, body: { bytes: Buffer; sha256: string }): Promise<GlacierCall>;
}

function fail(problem: ConstructorParameters<typeof GlacierFailure>[0]): never {
  throw new GlacierFailure(problem);
}

function send(reply: FastifyReply, r: GlacierReply): FastifyReply {
  for (const [k, v] of Object.entries(r.headers)) reply.header(k, v);
  return reply.code(r.status).send();
}

/** The body, hashed as it streams; fails at its end when it is not what the signature covered. */
async function* hashChecked(body: AsyncIterable<Buffer>, expected: string): AsyncGenerator<Buffer> {
  const check = new PayloadHashCheck(expected);
  for await (const chunk of body) {
    check.update(chunk);
    yield chunk;
  }
  check.verify();
}

/** Paging limits: ListVaults 10 at most, ListJobs 50, uploads and parts 1000 (docs/glacier.md). */
const VAULT_PAGE = { fallback: 10, max: 10 };
const JOB_PAGE = { fallback: 50, max: 50 };
const UPLOAD_PAGE = { fallback: 50, max: 1000 };
const LIST_BATCH = 1000;

export function buildGlacierHandlers(ctx: ServiceContext, calls: GlacierCalls, admission: GlacierAdmission, tierDelays: TierDelays = NO_TIER_DELAYS) {
  const callOf = (req: FastifyRequest): GlacierCall => {
    const call = calls.get(req);
    if (!call || !req.call.account) throw new Error('a Glacier handler ran for an unauthenticated request');
    return call;
  };
  const accountId = (req: FastifyRequest): string => req.call.account!.id;
  const vaultName = (req: FastifyRequest): string => req.call.params[1]!;
  const vaultOf = async (req: FastifyRequest): Promise<VaultRecord> => {
    const call = callOf(req);
    const name = vaultName(req);
    const vault = isGlacierVaultName(name) ? await ctx.meta.getVaultByName(accountId(req), name) : null;
    if (!vault) fail({ kind: 'vault-not-found', vaultArn: vaultArn(call.gctx, name) });
    return vault;
  };
  const itemId = (req: FastifyRequest): string => req.call.params[2]!;
  const body = (req: FastifyRequest): AsyncIterable<Buffer> => {
    const call = callOf(req);
    return call.bodyCheckNeeded ? hashChecked(req.raw, call.payloadHash) : req.raw;
  };
  const sha256Of = async (blobKey: string, size: number): Promise<string> =>
    (await sha256TreeOfRange(ctx.blobs, [{ blobKey, size }], 0, size - 1)) ?? '';

  const glacierJob = async (job: JobRecord): Promise<GlacierJobRecord> => {
    const record = await jobRecord(ctx, job);
    if (!record) throw new NotFoundError('job', job.id);
    return record;
  };

  const handlers = {
    async CreateVault(req, reply) {
      const { gctx } = callOf(req);
      const name = vaultName(req);
      await createVault(ctx, accountId(req), name, (n) => {
        if (!isGlacierVaultName(n)) fail({ kind: 'invalid-vault-name', name: n });
      });
      return send(reply, createVaultReply(gctx, name));
    },
    async DescribeVault(req, reply) {
      return sendJson(reply, 200, vaultJson(callOf(req).gctx, vaultRecord(vaultInfo(ctx, await vaultOf(req)))));
    },
    async ListVaults(req, reply) {
      const { gctx } = callOf(req);
      const limit = parseLimit(queryParam(req, 'limit'), VAULT_PAGE);
      const marker = queryParam(req, 'marker');
      let from: string | null = null;
      if (marker !== undefined && marker !== '') {
        from = vaultNameFromArn(gctx, marker);
        if (from === null) fail({ kind: 'invalid-parameter', message: `Invalid marker: ${marker}. It must be a vault ARN returned by ListVaults.` });
      }
      const page = await ctx.meta.listVaultsByName(accountId(req), from, limit);
      return sendJson(reply, 200, listVaultsJson(gctx, page.items.map((v) => vaultRecord(vaultInfo(ctx, v))), page.next));
    },
    // Capacity is never bought here (jobs are not throttled), so the list is always empty.
    async ListProvisionedCapacity(_req, reply) {
      return sendJson(reply, 200, { ProvisionedCapacityList: [] });
    },
    async DeleteVault(req, reply) {
      const vault = await vaultOf(req);
      await deleteVault(ctx, accountId(req), vault.id);
      return send(reply, NO_CONTENT);
    },
    async UploadArchive(req, reply) {
      const { gctx } = callOf(req);
      const vault = await vaultOf(req);
      const size = checkSingleUploadLength(header(req, 'content-length'));
      const treeHash = parseSha256Header('x-amz-sha256-tree-hash', header(req, 'x-amz-sha256-tree-hash'));
      const description = parseArchiveDescription(header(req, 'x-amz-archive-description'));
      const archive = await uploadArchive(ctx, vault, {
        size, checks: { trees: { sha256: treeHash } }, description, body: body(req), checkDescription: (t) => t ?? '',
      });
      req.call.bytesIn = archive.size;
      return send(reply, archiveCreatedReply(gctx, vault.name, archive.id, treeHash));
    },
    async DeleteArchive(req, reply) {
      const { gctx } = callOf(req);
      const vault = await vaultOf(req);
      const id = itemId(req);
      try {
        await deleteArchive(ctx, vault, id);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        // Deleting again succeeds; an id of another vault is refused as AWS refuses it.
        const any = isId(id) ? await ctx.meta.getArchiveAnyState(id) : null;
        if (any === null) throw err;
        if (any.vaultId !== vault.id) fail({ kind: 'archive-in-other-vault', vaultArn: vaultArn(gctx, vault.name) });
      }
      return send(reply, NO_CONTENT);
    },
    async InitiateMultipartUpload(req, reply) {
      const { gctx } = callOf(req);
      const vault = await vaultOf(req);
      const partSize = parsePartSize(header(req, 'x-amz-part-size'));
      const upload = await initiateUpload(ctx, vault, partSize, parseArchiveDescription(header(req, 'x-amz-archive-description')));
      return send(reply, uploadInitiatedReply(gctx, vault.name, upload.id));
    },
    async ListMultipartUploads(req, reply) {
      const { gctx } = callOf(req);
      const vault = await vaultOf(req);
      const limit = parseLimit(queryParam(req, 'limit'), UPLOAD_PAGE);
      const page = await listUploads(ctx, vault, { marker: queryParam(req, 'marker'), limit: String(limit) });
      return sendJson(reply, 200, listUploadsJson(gctx, vault.name, page.items, page.next === '' ? null : page.next));
    },
    async UploadMultipartPart(req, reply) {
      const vault = await vaultOf(req);
      const id = itemId(req);
      const upload = isId(id) ? await ctx.meta.getUpload(vault.id, id) : null;
      if (!upload || upload.completedAt !== null) fail({ kind: 'upload-not-found', uploadId: id });
      const length = header(req, 'content-length');
      if (length === undefined || !/^\d{1,16}$/.test(length)) fail({ kind: 'missing-parameter', message: 'Required header Content-Length is missing.' });
      const range = parsePartRange(header(req, 'content-range'), Number(length), upload.partSize);
      const treeHash = parseSha256Header('x-amz-sha256-tree-hash', header(req, 'x-amz-sha256-tree-hash'));
      const part = await uploadPart(ctx, vault, id, { range, size: Number(length), checks: { trees: { sha256: treeHash } }, body: body(req) });
      req.call.bytesIn = part.end - part.start + 1;
      return send(reply, partUploadedReply(treeHash));
    },
    async ListParts(req, reply) {
      const { gctx } = callOf(req);
      const vault = await vaultOf(req);
      const limit = parseLimit(queryParam(req, 'limit'), UPLOAD_PAGE);
      const { upload, parts } = await listParts(ctx, vault, itemId(req), { marker: queryParam(req, 'marker'), limit: String(limit) });
      const records: GlacierPartRecord[] = [];
      for (const p of parts.items) records.push({ start: p.start, end: p.end, treeHash: await sha256Of(p.blobKey, p.end - p.start + 1) });
      return sendJson(reply, 200, listPartsJson(gctx, vault.name, upload, records, parts.next === '' ? null : parts.next));
    },
    async CompleteMultipartUpload(req, reply) {
      const { gctx } = callOf(req);
      const vault = await vaultOf(req);
      const id = itemId(req);
      const size = parseArchiveSize(header(req, 'x-amz-archive-size'));
      const treeHash = parseSha256Header('x-amz-sha256-tree-hash', header(req, 'x-amz-sha256-tree-hash'));
      const upload = isId(id) ? await ctx.meta.getUpload(vault.id, id) : null;
      if (!upload) fail({ kind: 'upload-not-found', uploadId: id });
      if (upload.completedAt !== null && upload.archiveId !== null) {
        // A repeat asking for the same archive gets the same id.
        const same = upload.archiveSize === size && (await archiveRangeTreeHash(ctx, upload.archiveId, 0, size - 1)) === treeHash;
        if (!same) fail({ kind: 'upload-not-found', uploadId: id });
        return send(reply, archiveCreatedReply(gctx, vault.name, upload.archiveId, treeHash));
      }
      const parts = (await ctx.meta.allParts(upload.id)).sort((a, b) => a.start - b.start);
      const records: GlacierPartRecord[] = [];
      for (const p of parts) {
        const hash = await sha256Of(p.blobKey, p.end - p.start + 1);
        if (hash === '') {
          fail({ kind: 'invalid-parameter',
            message: `The part bytes ${p.start}-${p.end} was stored before this server kept SHA-256 checksums; upload that part again.` });
        }
        records.push({ start: p.start, end: p.end, treeHash: hash });
      }
      const computed = checkCompleteUpload(records, upload.partSize, size, treeHash);
      const archiveId = await completeUpload(ctx, vault, upload.id, size, combineTreeEtags(parts.map((p) => p.treeEtag)));
      return send(reply, archiveCreatedReply(gctx, vault.name, archiveId, computed));
    },
    async AbortMultipartUpload(req, reply) {
      await abortUpload(ctx, await vaultOf(req), itemId(req));
      return send(reply, NO_CONTENT);
    },
    async InitiateJob(req, reply) {
      const small = await readSmallBody(req.raw);
      req.call.bytesIn = small.bytes.byteLength;
      const { gctx } = await admission.admitWithBody(req, small);
      const vault = await vaultOf(req);
      const params = parseJobParameters(small.bytes.toString('utf8'));
      const fields: GlacierJobFields = {
        tier: params.type === 'archive-retrieval' ? params.tier : null, snsTopic: params.snsTopic,
        inventory: params.type === 'inventory-retrieval' ? params.inventory : null, vaultArn: vaultArn(gctx, vault.name),
      };
      const frontEnd = glacierFrontEnd(fields);
      let job: JobRecord;
      if (params.type === 'archive-retrieval') {
        const archive = await getArchive(ctx, vault, params.archiveId);
        const range = params.retrievalByteRange === null ? null : parseRetrievalByteRange(params.retrievalByteRange, archive.size);
        job = await initiateJob(ctx, vault, {
          type: 'archive-retrieval', archiveId: archive.id, description: params.description ?? undefined,
          retrievalRange: range === null ? undefined : formatRange(range), frontEnd, delayMs: tierDelays[params.tier],
        });
      } else {
        job = await initiateJob(ctx, vault, { type: 'inventory-retrieval', description: params.description ?? undefined, frontEnd });
      }
      return send(reply, jobInitiatedReply(gctx, vault.name, job.id));
    },
    async DescribeJob(req, reply) {
      const { gctx } = callOf(req);
      const vault = await vaultOf(req);
      return sendJson(reply, 200, jobJson(gctx, vault.name, await glacierJob(await getJob(ctx, vault, itemId(req)))));
    },
    async ListJobs(req, reply) {
      const { gctx } = callOf(req);
      const vault = await vaultOf(req);
      const limit = parseLimit(queryParam(req, 'limit'), JOB_PAGE);
      const filters = parseJobFilters(queryParam(req, 'completed'), queryParam(req, 'statuscode'));
      const page = await listJobsPage(ctx, vault.id, limit, parseJobMarker(queryParam(req, 'marker')), filters);
      const found: GlacierJobRecord[] = [];
      for (const job of page.jobs) found.push(await glacierJob(job));
      const next = page.next;
      return sendJson(reply, 200, listJobsJson(gctx, vault.name, found, next));
    },
    async GetJobOutput(req, reply) {
      const vault = await vaultOf(req);
      const job = await getJob(ctx, vault, itemId(req));
      const record = await glacierJob(job);
      if (record.status !== 'Succeeded') fail({ kind: 'job-not-ready', jobId: job.id });
      const source = await outputSource(ctx, job);
      const range = parseOutputRange(header(req, 'range'), source.size);
      const start = range?.start ?? 0;
      const end = range?.end ?? source.size - 1;
      let treeHash: string | null = null;
      let description = '';
      if (job.type === 'archive-retrieval') {
        const archive = await ctx.meta.getArchiveAnyState(job.archiveId);
        description = archive?.description ?? '';
        const whole = jobRange(record) ?? parseRange(job.retrievalRange)!;
        const hashed = record.archiveSize === null ? null : outputTreeHashRange(whole, record.archiveSize, range);
        if (hashed) treeHash = await archiveRangeTreeHash(ctx, job.archiveId, hashed.start, hashed.end);
      }
      const kind = job.type === 'archive-retrieval'
        ? { type: 'archive-retrieval' as const, description }
        : { type: 'inventory-retrieval' as const, format: glacierJobFields(job).inventory?.format ?? 'JSON' };
      const r = jobOutputReply(kind, source.size, range, treeHash);
      for (const [k, v] of Object.entries(r.headers)) reply.header(k, v);
      req.call.bytesOut = end - start + 1;
      return reply.code(r.status).send(readOutput(ctx, job, source, start, end));
    },
  } satisfies Record<string, Handler>;
  const side = buildSideHandlers(ctx, {
    callOf, vaultOf,
    async admitBody(req) {
      const small = await readSmallBody(req.raw);
      req.call.bytesIn = small.bytes.byteLength;
      await admission.admitWithBody(req, small);
      return small.bytes.toString('utf8');
    },
  });
  return { ...handlers, ...side };
}
