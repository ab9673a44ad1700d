// The commander program: global options, every command, the overview help.
import { Command, Help, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { runner, type Runtime } from './command.js';
import { registerVaultCommands } from './commands/vaults.js';
import { registerArchiveCommands } from './commands/archives.js';
import { registerEtagCommands } from './commands/etags.js';
import { registerMultipartCommands } from './commands/multipart.js';
import { registerUploadCommand } from './commands/upload.js';
import { registerFetchCommand } from './commands/fetch.js';
import { registerJobCommands } from './commands/jobs.js';
import { registerConfigCommand } from './commands/config.js';

function version(): string {
  try {
    // ../package.json from both src/ and dist/.
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const OVERVIEW = `
Addresses:
  oas://vault-name            a vault (names are looked up in the vault list)
  oas://vault-name/archive-id an archive (rm, cp)
  oss://bucket/object         an OSS object (cp)
  Sizes: 1024, 64K, 64M, 1.5G, 2T (powers of 1024; a trailing B is allowed).

Service and credentials, first found wins:
  --host, --port, -i/--id, -k/--key          on the command line
  OAS_HOST, OAS_PORT, OAS_ACCESS_KEY_ID,       in the environment
  OAS_ACCESS_KEY_SECRET
  the credentials file                         --config-file, else OAS_CONFIG_FILE,
                                               else ~/.oascredentials (see: oascmd config)
  cn-hangzhou.oas.aliyuncs.com, port 80        defaults

Exit status: 0 done, 1 the operation failed (server error, network, local file),
2 the command line is wrong, 130 interrupted (Ctrl-C). OASCMD_DEBUG=1 prints stack traces.

Quick start (a local server; oas-server prints its key on first start):
  $ npx oascmd config --host 127.0.0.1 --port 8080 -i <AccessKeyId> -k <AccessKeySecret>
  $ npx oascmd cv oas://backup
  $ npx oascmd upload oas://backup disk.img
  $ npx oascmd createjob oas://backup <archive_id>
  $ npx oascmd fetch oas://backup <job_id> disk.img.restored --wait
`;

export function buildProgram(runtime: Runtime): Command {
  const program = new Command('oascmd');
  program
    .description('Command-line tool for Aliyun Open Archive Service (OAS), compatible with the official oascmd.')
    .version(version(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => runtime.stdout.write(text),
      writeErr: (text) => runtime.stderr.write(text),
      // Errors are reported once, in one line, by the caller.
      outputError: () => {},
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .optionsGroup('Connection and output options (any command):')
    .option('--host <host>', 'service host (host, host:port or http(s)://host[:port])')
    .option('--port <port>', 'service port (default 80; 443 means HTTPS)')
    .option('-i, --id <accessid>', 'AccessKeyId')
    .option('-k, --key <accesskey>', 'AccessKeySecret')
    .option('--config-file <file>', 'credentials file (default ~/.oascredentials)')
    .option('--ca-file <file>', 'PEM certificates to trust for HTTPS instead of the system list (env OAS_CA_FILE)')
    .option('--json', 'print the result as one JSON document on stdout')
    .addOption(new Option('-q, --quiet', 'no progress and no notes, only the result and errors'))
    .helpCommand('help [command]', 'show help for a command (also: oascmd <command> --help)');
  program.addHelpText('after', OVERVIEW);

  const run = runner(runtime);
  // Groups follow the official help: daily commands first, then the single operations.
  program.commandsGroup('Daily commands:');
  registerUploadCommand(program, run, runtime);
  registerFetchCommand(program, run, runtime);
  registerVaultCommands(program, run);
  registerArchiveCommands(program, run);
  registerEtagCommands(program, run);
  registerMultipartCommands(program, run);
  registerJobCommands(program, run);
  program.commandsGroup('Other commands:');
  registerConfigCommand(program, run, runtime);
  program.helpCommand(true);
  overviewLayout(program);
  return program;
}

const TERM_WIDTH = 34;

/**
 * The program's own help lists commands with their arguments; a few are long (postmpart),
 * so the term column is capped and a longer term gets its description on the next line.
 * (Subcommands keep the default layout: they copied the help settings when created.)
 */
function overviewLayout(program: Command): void {
  program.configureHelp({
    showGlobalOptions: true,
    sortSubcommands: false,
    // `upload <vault> <file> [uploadid]`: every command takes options, no need to say so.
    subcommandTerm: (cmd) => Help.prototype.subcommandTerm.call(new Help(), cmd).replace(' [options]', ''),
    padWidth: (cmd, helper) => Math.min(TERM_WIDTH, Help.prototype.padWidth.call(helper, cmd, helper)),
    formatItem: (term, termWidth, description, helper) => {
      if (term.length <= termWidth || !description) return Help.prototype.formatItem.call(helper, term, termWidth, description, helper);
      const indent = ' '.repeat(termWidth + 4);
      const wrapped = helper.boxWrap(description, (helper.helpWidth ?? 80) - indent.length);
      return `  ${term}\n${indent}${wrapped.replace(/\n/g, `\n${indent}`)}`;
    },
  });
}
