// The stores of an existing installation, opened by an offline command (scrub, backfill).
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError, type ServerOptions } from './config.js';
import { describeBlobs, describeMetadata, openStores, parseMetadataUri, type OpenedStores } from './store/open.js';

export interface OfflineStores extends OpenedStores {
  /** `<metadata> + <blobs>`, for the command's first line. */
  where: string;
  /** The ids of the vaults named by --vault (in every account); undefined: every vault. */
  vaultIds: string[] | undefined;
  close(): Promise<void>;
}

/**
 * Opens the stores for a command. A missing SQLite file or an unknown --vault is the user's
 * mistake: it is refused, never answered by creating an empty store.
 */
export async function openOfflineStores(options: ServerOptions, vault: string | undefined): Promise<OfflineStores> {
  const metaSpec = parseMetadataUri(options.metadataUri, options);
  if (metaSpec.kind === 'sqlite' && !(await stat(metaSpec.path).catch(() => null))) {
    throw new ConfigError(options.metadataUri === undefined ? `no server data in ${resolve(options.dataDir)}` : `no metadata file ${metaSpec.path}`);
  }
  const stores = await openStores(options);
  const close = async (): Promise<void> => {
    await stores.meta.close().catch(() => undefined);
    await stores.blobs.close().catch(() => undefined);
  };
  try {
    const vaultIds = vault === undefined ? undefined : await stores.meta.vaultIdsNamed(vault);
    if (vaultIds?.length === 0) throw new ConfigError(`no vault named ${JSON.stringify(vault)}`);
    return { ...stores, where: `${describeMetadata(metaSpec)} + ${describeBlobs(stores.blobsSpec)}`, vaultIds, close };
  } catch (err) {
    await close();
    throw err;
  }
}
