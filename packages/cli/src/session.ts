// What a running command needs: its output, the abort signal (Ctrl-C), and — created on
// first use — the credentials, the OASAPI client and vault name → id lookups.
import { OASAPI, Vault, listAllVaults, type VaultJson } from '@oas/sdk';
import { resolveCredentials, type ConnectionFlags, type Credentials } from './config.js';
import { CliError } from './errors.js';
import type { Output } from './output.js';

/** The options every command accepts (defined once on the program). */
export interface GlobalFlags extends ConnectionFlags {
  json?: boolean;
  quiet?: boolean;
}

export class Session {
  private creds: Credentials | undefined;
  private client: OASAPI | undefined;
  private readonly vaults = new Map<string, VaultJson>();

  constructor(readonly out: Output, readonly flags: GlobalFlags, readonly signal: AbortSignal,
    readonly env: Record<string, string | undefined> = process.env) {}

  async credentials(): Promise<Credentials> {
    this.creds ??= await resolveCredentials(this.flags, this.env);
    return this.creds;
  }

  async api(): Promise<OASAPI> {
    if (!this.client) {
      const c = await this.credentials();
      this.client = new OASAPI(c.host, c.accessId, c.accessKey, { port: c.port, secure: c.secure, ...(c.ca ? { ca: c.ca } : {}) });
    }
    return this.client;
  }

  /** Vault `name`, found by paging the vault list (10 a page) as the official tool does. */
  async vault(name: string): Promise<Vault> {
    const api = await this.api();
    const known = this.vaults.get(name);
    if (known) return new Vault(api, known);
    for await (const json of listAllVaults(api, { limit: 10, signal: this.signal })) {
      if (json.VaultName === name) {
        this.vaults.set(name, json);
        return new Vault(api, json);
      }
    }
    throw new CliError(`vault '${name}' not found`);
  }

  /** The id of vault `name`. */
  async vaultId(name: string): Promise<string> {
    return (await this.vault(name)).id;
  }

  close(): void {
    this.client?.close();
  }
}
