// What happens when a Glacier job finishes (docs/glacier.md, "Notifications"): the job
// engine calls onFinished on the node that ran the job; the DescribeJob JSON goes to the URL
// `--notify` maps the job's SNSTopic to, and to the vault's notification-configuration topic
// when its Events name the job's kind. Best effort and not durable: a notification still
// being retried when the server stops is lost (docs/decisions.md).
import type { ServiceContext } from '../../service/context.js';
import { glacierJobFields } from '../../service/glacier-jobs.js';
import type { JobRecord } from '../../service/records.js';
import type { JobNotifier } from './notify.js';
import { SETTING, type VaultNotificationConfig } from './side-wire.js';
import { jobRecord } from './views.js';
import { jobJson, type GlacierContext } from './wire.js';

export interface JobNotifications {
  /** The engine's hook: returns at once, the sending runs in the background. */
  onFinished(job: JobRecord): void;
  /** Stops retries and waits for notifications in flight (shutdown). */
  close(): Promise<void>;
}

/** Region, account and vault name of the ARN the job was started on. */
function parseVaultArn(arn: string): { gctx: GlacierContext; vaultName: string } | null {
  const m = /^arn:aws:glacier:([^:]*):(\d{12}):vaults\/(.+)$/.exec(arn);
  return m ? { gctx: { region: m[1]!, accountId: m[2]! }, vaultName: m[3]! } : null;
}

/** The topics a finished job is announced to: its own SNSTopic and the vault's, deduplicated. */
async function topicsOf(ctx: ServiceContext, job: JobRecord, ownTopic: string | null): Promise<string[]> {
  const topics = new Set<string>();
  if (ownTopic !== null) topics.add(ownTopic);
  const stored = await ctx.meta.settings.vaultSetting(job.vaultId, SETTING.notifications);
  if (stored !== null) {
    const config = JSON.parse(stored) as VaultNotificationConfig;
    const event = job.type === 'archive-retrieval' ? 'ArchiveRetrievalCompleted' : 'InventoryRetrievalCompleted';
    if (config.Events.includes(event)) topics.add(config.SNSTopic);
  }
  return [...topics];
}

export function glacierJobNotifications(ctx: ServiceContext, notifier: JobNotifier, onError: (err: unknown, job: JobRecord) => void): JobNotifications {
  const running = new Set<Promise<void>>();

  async function announce(finished: JobRecord): Promise<void> {
    // Jobs started through the Glacier API carry their vault's ARN; OAS jobs are not announced.
    if (finished.type !== 'archive-retrieval' && finished.type !== 'inventory-retrieval') return;
    const fields = glacierJobFields(finished);
    const where = fields.vaultArn === null ? null : parseVaultArn(fields.vaultArn);
    if (where === null) return;
    const topics = (await topicsOf(ctx, finished, fields.snsTopic)).filter((t) => notifier.has(t));
    if (topics.length === 0) return;
    // The stored job, as DescribeJob shows it now (the finished fields, in case it already expired).
    const job = (await ctx.meta.getJob(finished.vaultId, finished.id, ctx.now())) ?? finished;
    const record = await jobRecord(ctx, job);
    if (record === null) return;
    const body = jobJson(where.gctx, where.vaultName, record);
    await Promise.all(topics.map((topic) => notifier.notify(topic, body)));
  }

  return {
    onFinished(job) {
      const p: Promise<void> = announce(job).catch((err: unknown) => onError(err, job)).finally(() => running.delete(p));
      running.add(p);
    },
    async close() {
      await notifier.close();
      await Promise.allSettled([...running]);
    },
  };
}
