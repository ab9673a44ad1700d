// The Glacier side operations (docs/glacier.md, "Side operations"): vault tags (3),
// notification configuration (3), access policy (3) and the account's data-retrieval policy
// (2). Settings are stored and returned; policies are NOT enforced (documented). Bodies are
// read and checked with side-wire.ts.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServiceContext } from '../../service/context.js';
import type { VaultRecord } from '../../service/records.js';
import type { Handler } from '../frontend.js';
import { sendJson } from '../state.js';
import { GlacierFailure } from './errors.js';
import type { GlacierCall } from './handlers.js';
import { NO_CONTENT } from './responses.js';
import {
  DEFAULT_DATA_RETRIEVAL_POLICY, MAX_VAULT_TAGS, SETTING, parseAccessPolicy, parseAddTags, parseDataRetrievalPolicy,
  parseNotificationConfig, parseRemoveTags, tagsJson, tooManyTags,
} from './side-wire.js';
import { vaultArn } from './wire.js';

/** The side operations whose JSON body is read (and signed over) before authentication. */
export const SIDE_BODY_OPERATIONS: readonly string[] = [
  'AddTagsToVault', 'RemoveTagsFromVault', 'SetVaultNotifications', 'SetVaultAccessPolicy', 'SetDataRetrievalPolicy',
];

export interface SideDeps {
  callOf(req: FastifyRequest): GlacierCall;
  vaultOf(req: FastifyRequest): Promise<VaultRecord>;
  /** Reads the small body, authenticates with it, and returns it as text. */
  admitBody(req: FastifyRequest): Promise<string>;
}

function noContent(reply: FastifyReply): FastifyReply {
  return reply.code(NO_CONTENT.status).send();
}

export function buildSideHandlers(ctx: ServiceContext, deps: SideDeps) {
  const { callOf, vaultOf, admitBody } = deps;
  const accountId = (req: FastifyRequest): string => req.call.account!.id;

  /** A vault's setting, or ResourceNotFoundException naming what is not set (as AWS answers). */
  const requireSetting = async (req: FastifyRequest, vault: VaultRecord, name: string, what: string): Promise<string> => {
    const value = await ctx.meta.settings.vaultSetting(vault.id, name);
    if (value === null) throw new GlacierFailure({ kind: 'not-configured', what, vaultArn: vaultArn(callOf(req).gctx, vault.name) });
    return value;
  };
  const putSetting = async (req: FastifyRequest, vault: VaultRecord, name: string, value: string | null): Promise<void> => {
    // False only when the vault was deleted since vaultOf found it: answer as for any unknown vault.
    if (!(await ctx.meta.settings.putVaultSetting(vault.id, name, value))) {
      throw new GlacierFailure({ kind: 'vault-not-found', vaultArn: vaultArn(callOf(req).gctx, vault.name) });
    }
  };

  return {
    async AddTagsToVault(req, reply) {
      const text = await admitBody(req);
      const vault = await vaultOf(req);
      const tags = parseAddTags(text);
      const result = await ctx.meta.settings.addTags(vault.id, tags, MAX_VAULT_TAGS);
      if (result === 'limit') tooManyTags();
      if (result === 'missing') throw new GlacierFailure({ kind: 'vault-not-found', vaultArn: vaultArn(callOf(req).gctx, vault.name) });
      return noContent(reply);
    },
    async RemoveTagsFromVault(req, reply) {
      const text = await admitBody(req);
      const vault = await vaultOf(req);
      await ctx.meta.settings.removeTags(vault.id, parseRemoveTags(text));
      return noContent(reply);
    },
    async ListTagsForVault(req, reply) {
      const vault = await vaultOf(req);
      return sendJson(reply, 200, tagsJson(await ctx.meta.settings.listTags(vault.id)));
    },

    async SetVaultNotifications(req, reply) {
      const text = await admitBody(req);
      const vault = await vaultOf(req);
      await putSetting(req, vault, SETTING.notifications, JSON.stringify(parseNotificationConfig(text)));
      return noContent(reply);
    },
    async GetVaultNotifications(req, reply) {
      const vault = await vaultOf(req);
      const stored = await requireSetting(req, vault, SETTING.notifications, 'notification configuration');
      return sendJson(reply, 200, JSON.parse(stored));
    },
    async DeleteVaultNotifications(req, reply) {
      await putSetting(req, await vaultOf(req), SETTING.notifications, null);
      return noContent(reply);
    },

    async SetVaultAccessPolicy(req, reply) {
      const text = await admitBody(req);
      const vault = await vaultOf(req);
      await putSetting(req, vault, SETTING.accessPolicy, parseAccessPolicy(text));
      return noContent(reply);
    },
    async GetVaultAccessPolicy(req, reply) {
      const vault = await vaultOf(req);
      return sendJson(reply, 200, { Policy: await requireSetting(req, vault, SETTING.accessPolicy, 'vault access policy') });
    },
    async DeleteVaultAccessPolicy(req, reply) {
      await putSetting(req, await vaultOf(req), SETTING.accessPolicy, null);
      return noContent(reply);
    },

    // Per account (AWS: per account and region; this server has one region).
    async SetDataRetrievalPolicy(req, reply) {
      const text = await admitBody(req);
      const policy = parseDataRetrievalPolicy(text);
      await ctx.meta.settings.putAccountSetting(accountId(req), SETTING.dataRetrievalPolicy, JSON.stringify(policy));
      return noContent(reply);
    },
    async GetDataRetrievalPolicy(req, reply) {
      const stored = await ctx.meta.settings.accountSetting(accountId(req), SETTING.dataRetrievalPolicy);
      return sendJson(reply, 200, { Policy: stored === null ? DEFAULT_DATA_RETRIEVAL_POLICY : JSON.parse(stored) });
    },
  } satisfies Record<string, Handler>;
}
