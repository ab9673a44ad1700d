// Bodies of the Glacier side operations (docs/glacier.md, "Side operations"): vault tags,
// notification configuration, access policy and data-retrieval policy. Parsers check a
// request body and return what is stored; the builders give the JSON clients read back. Pure.
import type { VaultTag } from '../../service/records.js';
import { GlacierFailure, type GlacierProblem } from './errors.js';

/** AWS allows 50 tags per vault (docs/decisions.md: 10 is an older limit). */
export const MAX_VAULT_TAGS = 50;
export const MAX_TAG_KEY = 128;
export const MAX_TAG_VALUE = 256;
/** A vault access policy is at most 20 KB. */
export const MAX_ACCESS_POLICY_BYTES = 20 * 1024;

/** Names under which the metadata store keeps the settings (values are JSON text). */
export const SETTING = {
  notifications: 'glacier.notifications',
  accessPolicy: 'glacier.access-policy',
  dataRetrievalPolicy: 'glacier.data-retrieval-policy',
} as const;

export const NOTIFICATION_EVENTS = ['ArchiveRetrievalCompleted', 'InventoryRetrievalCompleted'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export interface VaultNotificationConfig {
  SNSTopic: string;
  Events: NotificationEvent[];
}

export type RetrievalStrategy = 'BytesPerHour' | 'FreeTier' | 'None';

export interface DataRetrievalRule {
  Strategy: RetrievalStrategy;
  BytesPerHour?: number;
}

export interface DataRetrievalPolicy {
  Rules: DataRetrievalRule[];
}

/** What GetDataRetrievalPolicy answers before any was set: no limit, which is what the server does. */
export const DEFAULT_DATA_RETRIEVAL_POLICY: DataRetrievalPolicy = { Rules: [{ Strategy: 'None' }] };

function problem(p: GlacierProblem): never {
  throw new GlacierFailure(p);
}

const invalid = (message: string): never => problem({ kind: 'invalid-parameter', message });

/** The body as a JSON object (SerializationException otherwise). */
export function parseBodyObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return problem({ kind: 'malformed-json', message: 'The request body is not valid JSON.' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return problem({ kind: 'malformed-json', message: 'The request body must be a JSON object.' });
  }
  return parsed as Record<string, unknown>;
}

/** Length in characters (code points), as AWS counts tag lengths. */
const chars = (s: string): number => [...s].length;

/** Letters, digits, white space and `_ . : / = + - @`, AWS's tag alphabet. */
const TAG_TEXT = /^[\p{L}\p{N}\p{Zs}_.:/=+\-@]*$/u;

function checkTagKey(key: unknown): string {
  if (typeof key !== 'string') return problem({ kind: 'malformed-json', message: 'Tag keys must be strings.' });
  if (chars(key) < 1 || chars(key) > MAX_TAG_KEY) invalid(`Invalid tag key: '${key}'. A tag key is 1 to ${MAX_TAG_KEY} characters.`);
  if (!TAG_TEXT.test(key)) invalid(`Invalid tag key: '${key}'. Use letters, digits, spaces and _ . : / = + - @ only.`);
  if (key.toLowerCase().startsWith('aws:')) invalid(`Invalid tag key: '${key}'. The prefix 'aws:' is reserved.`);
  return key;
}

/** AddTagsToVault: `{"Tags": {key: value}}`; an absent or empty map adds nothing. */
export function parseAddTags(text: string): VaultTag[] {
  const body = parseBodyObject(text);
  const raw = body.Tags ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return problem({ kind: 'malformed-json', message: 'Tags must be a JSON object of strings.' });
  const tags: VaultTag[] = [];
  for (const [key, value] of Object.entries(raw)) {
    checkTagKey(key);
    if (typeof value !== 'string') return problem({ kind: 'malformed-json', message: `The value of tag '${key}' must be a string.` });
    if (chars(value) > MAX_TAG_VALUE) invalid(`Invalid value of tag '${key}': a tag value is 0 to ${MAX_TAG_VALUE} characters.`);
    if (!TAG_TEXT.test(value)) invalid(`Invalid value of tag '${key}': use letters, digits, spaces and _ . : / = + - @ only.`);
    tags.push({ key, value });
  }
  if (tags.length > MAX_VAULT_TAGS) tooManyTags();
  return tags;
}

export function tooManyTags(): never {
  return problem({ kind: 'limit-exceeded', message: `The request would give the vault more than ${MAX_VAULT_TAGS} tags, the limit per vault.` });
}

/** RemoveTagsFromVault: `{"TagKeys": [key, ...]}`; an absent or empty list removes nothing. */
export function parseRemoveTags(text: string): string[] {
  const body = parseBodyObject(text);
  const raw = body.TagKeys ?? [];
  if (!Array.isArray(raw)) return problem({ kind: 'malformed-json', message: 'TagKeys must be a JSON array of strings.' });
  return raw.map(checkTagKey);
}

/** ListTagsForVault: `{"Tags": {...}}`, `{}` when none. */
export function tagsJson(tags: readonly VaultTag[]): { Tags: Record<string, string> } {
  // fromEntries defines own properties, so even a key such as `__proto__` comes out as a tag.
  return { Tags: Object.fromEntries(tags.map((t) => [t.key, t.value])) };
}

/** SetVaultNotifications: `{"SNSTopic": arn, "Events": [...]}`. */
export function parseNotificationConfig(text: string): VaultNotificationConfig {
  const body = parseBodyObject(text);
  const topic = body.SNSTopic;
  if (topic === undefined || topic === null) return problem({ kind: 'missing-parameter', message: 'Required parameter SNSTopic is missing.' });
  if (typeof topic !== 'string') return problem({ kind: 'malformed-json', message: 'SNSTopic must be a string.' });
  if (!/^arn:[^\s]{1,1020}$/.test(topic)) invalid(`Invalid SNSTopic: '${topic}'. It must be an SNS topic ARN.`);
  const events = body.Events ?? [];
  if (!Array.isArray(events)) return problem({ kind: 'malformed-json', message: 'Events must be a JSON array of strings.' });
  const seen = new Set<NotificationEvent>();
  for (const e of events) {
    if (!(NOTIFICATION_EVENTS as readonly unknown[]).includes(e)) {
      invalid(`Invalid event: ${JSON.stringify(e)}. Events are ${NOTIFICATION_EVENTS.join(' and ')}.`);
    }
    seen.add(e as NotificationEvent);
  }
  return { SNSTopic: topic, Events: NOTIFICATION_EVENTS.filter((e) => seen.has(e)) };
}

/** SetVaultAccessPolicy: `{"Policy": "<JSON policy document as a string>"}`; the text is kept as sent. */
export function parseAccessPolicy(text: string): string {
  const body = parseBodyObject(text);
  const policy = body.Policy;
  if (policy === undefined || policy === null) return problem({ kind: 'missing-parameter', message: 'Required parameter Policy is missing.' });
  if (typeof policy !== 'string') return problem({ kind: 'malformed-json', message: 'Policy must be a string holding the policy document.' });
  if (Buffer.byteLength(policy, 'utf8') > MAX_ACCESS_POLICY_BYTES) invalid(`The policy is larger than ${MAX_ACCESS_POLICY_BYTES} bytes.`);
  let doc: unknown;
  try {
    doc = JSON.parse(policy);
  } catch {
    doc = null;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) invalid('The policy is not a valid JSON policy document.');
  return policy;
}

/** SetDataRetrievalPolicy: `{"Policy": {"Rules": [{"Strategy": ..., "BytesPerHour": n}]}}`, exactly one rule. */
export function parseDataRetrievalPolicy(text: string): DataRetrievalPolicy {
  const body = parseBodyObject(text);
  const policy = body.Policy;
  if (policy === undefined || policy === null) return problem({ kind: 'missing-parameter', message: 'Required parameter Policy is missing.' });
  if (typeof policy !== 'object' || Array.isArray(policy)) return problem({ kind: 'malformed-json', message: 'Policy must be a JSON object.' });
  const rules = (policy as Record<string, unknown>).Rules;
  if (!Array.isArray(rules)) return problem({ kind: 'malformed-json', message: 'Policy.Rules must be a JSON array.' });
  if (rules.length !== 1) invalid('A data retrieval policy has exactly one rule.');
  const rule = rules[0] as Record<string, unknown> | null;
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) return problem({ kind: 'malformed-json', message: 'A rule must be a JSON object.' });
  const strategy = rule.Strategy;
  if (strategy !== 'BytesPerHour' && strategy !== 'FreeTier' && strategy !== 'None') {
    return invalid(`Invalid Strategy: ${JSON.stringify(strategy ?? null)}. It must be BytesPerHour, FreeTier or None.`);
  }
  const bytes = rule.BytesPerHour;
  if (strategy !== 'BytesPerHour') {
    if (bytes !== undefined && bytes !== null) invalid(`BytesPerHour is only allowed with the BytesPerHour strategy, not ${strategy}.`);
    return { Rules: [{ Strategy: strategy }] };
  }
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 1) {
    return invalid('The BytesPerHour strategy needs BytesPerHour, a whole number of bytes of at least 1.');
  }
  return { Rules: [{ Strategy: strategy, BytesPerHour: bytes }] };
}
