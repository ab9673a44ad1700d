// Vault commands: ls/listvault, cv/createvault, rm, deletevault, getvaultdesc.
import type { Command } from 'commander';
import { callOk } from '@oas/sdk';
import type { VaultJson } from '@oas/sdk';
import { parseVaultAddress } from '../address.js';
import { examples, listOptions, type Runner } from '../command.js';
import { localDate, VAULT_FIELDS } from '../format.js';
import { humanSize, parseCount } from '../size.js';
import { CliError } from '../errors.js';
import type { Session } from '../session.js';

interface ListOpts {
  marker?: string;
  limit?: string;
}

async function listVault(s: Session, _args: string[], opts: ListOpts): Promise<void> {
  const limit = opts.limit === undefined ? undefined : parseCount(opts.limit, '--limit');
  const api = await s.api();
  const page = await (await callOk(api.listVault(opts.marker, limit, { signal: s.signal }))).json<{ Marker: string; VaultList: VaultJson[] }>();
  s.out.result(page, () => {
    s.out.line(`Marker: ${page.Marker ?? ''}`);
    s.out.line(`Vault count: ${page.VaultList.length}`);
    if (page.VaultList.length === 0) return;
    s.out.table(['VaultID', 'VaultName', 'CreationDate', 'NumberOfArchives', 'TotalSize', 'LastInventoryDate'],
      page.VaultList.map((v) => [v.VaultId, v.VaultName, localDate(v.CreationDate), v.NumberOfArchives, humanSize(v.SizeInBytes),
        localDate(v.LastInventoryDate)]));
  });
}

async function createVault(s: Session, [address]: string[]): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const api = await s.api();
  const response = await callOk(api.createVault(vault, { signal: s.signal }));
  response.dispose();
  const id = response.getHeader('x-oas-vault-id');
  if (!id) throw new CliError('the server created the vault but sent no x-oas-vault-id');
  s.out.result({ VaultId: id, VaultName: vault }, () => s.out.line(`Vault ID: ${id}`));
}

export async function deleteVault(s: Session, vault: string): Promise<void> {
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  (await callOk(api.deleteVault(vaultId, { signal: s.signal }))).dispose();
  s.out.result({ VaultId: vaultId, VaultName: vault, Deleted: true }, () => s.out.line('Delete success'));
}

export async function deleteArchive(s: Session, vault: string, archiveId: string): Promise<void> {
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  (await callOk(api.deleteArchive(vaultId, archiveId, { signal: s.signal }))).dispose();
  s.out.result({ VaultId: vaultId, ArchiveId: archiveId, Deleted: true }, () => s.out.line('Delete success'));
}

async function rm(s: Session, [address, archiveArg]: string[]): Promise<void> {
  // `rm oas://vault/archive_id` works too.
  const { vault, archiveId: inAddress } = parseVaultAddress(address!, { archive: archiveArg ? 'forbidden' : 'optional' });
  const archiveId = archiveArg ?? inAddress;
  if (archiveId) await deleteArchive(s, vault, archiveId);
  else await deleteVault(s, vault);
}

async function getVaultDesc(s: Session, [address]: string[]): Promise<void> {
  const { vault } = parseVaultAddress(address!);
  const vaultId = await s.vaultId(vault);
  const api = await s.api();
  const desc = await (await callOk(api.getVaultDesc(vaultId, { signal: s.signal }))).json<VaultJson>();
  s.out.result(desc, () => s.out.keyValues(VAULT_FIELDS.map((k) => [k, k.endsWith('Date') ? localDate(desc[k] as string) : desc[k]])));
}

export function registerVaultCommands(program: Command, run: Runner): void {
  program.commandsGroup('Vault commands:');

  const ls = program.command('ls').alias('listvault').summary('list vaults (one page)')
    .description('List the vaults of the account, one page at a time (the server returns at most 10 per page). '
      + 'Pass the Marker a page prints as --marker to get the next one.');
  listOptions(ls, 'vaults').action(run(listVault));
  examples(ls, [['oascmd ls', 'the first page'], ['oascmd listvault --marker 5C2E... --limit 5', 'the next page'],
    ['oascmd ls --json', 'as JSON: {"Marker": ..., "VaultList": [...]}']]);

  const cv = program.command('cv').alias('createvault').argument('<vault>', 'oas://vault-name').summary('create a vault')
    .description('Create a vault and print its id. Names: 3-63 of a-z 0-9 _ -, starting and ending with a letter or digit.')
    .action(run(createVault));
  examples(cv, [['oascmd cv oas://photos', 'prints: Vault ID: 79D2D8F33B7C287037286185863B6823'],
    ['oascmd createvault oas://photos', 'the same']]);

  const rmCmd = program.command('rm').argument('<vault>', 'oas://vault-name (or oas://vault-name/archive-id)')
    .argument('[archive_id]', 'archive to delete; without it the vault itself is deleted')
    .summary('delete a vault, or an archive of it').description('Delete an archive when an archive id is given, else the (empty) vault.')
    .action(run(rm));
  examples(rmCmd, [['oascmd rm oas://photos', 'delete the vault (it must be empty)'],
    ['oascmd rm oas://photos 0E3F...', 'delete one archive'], ['oascmd rm oas://photos/0E3F...', 'the same']]);

  const dv = program.command('deletevault').argument('<vault>', 'oas://vault-name').summary('delete a vault')
    .description('Delete an empty vault.').action(run(async (s, [address]) => deleteVault(s, parseVaultAddress(address!).vault)));
  examples(dv, [['oascmd deletevault oas://photos', '']]);

  const gv = program.command('getvaultdesc').argument('<vault>', 'oas://vault-name').summary('describe a vault')
    .description('Print the vault\'s id, name, creation date, archive count, size and last inventory date '
      + '(the hosted service refreshes the statistics daily).')
    .action(run(getVaultDesc));
  examples(gv, [['oascmd getvaultdesc oas://photos', ''], ['oascmd getvaultdesc oas://photos --json', 'the server\'s JSON']]);
}
