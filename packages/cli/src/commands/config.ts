// `config`: writes the credentials file in the official tool's format.
import type { Command } from 'commander';
import { configFilePath, parseHost, parsePort, writeConfigFile, DEFAULT_PORT } from '../config.js';
import { examples, type Runner, type Runtime } from '../command.js';
import { CliError, UsageError } from '../errors.js';
import { exists } from '../files.js';
import { confirm } from '../prompt.js';
import type { Session } from '../session.js';

interface ConfigOpts {
  p?: string;
  osshost?: string;
  force?: boolean;
}

async function config(s: Session, runtime: Runtime, opts: ConfigOpts): Promise<void> {
  const { host: hostText, id, key } = s.flags;
  const portText = opts.p ?? s.flags.port;
  if (!hostText || !id || !key) {
    const missing = [!hostText && '--host', !id && '-i/--id', !key && '-k/--key'].filter(Boolean).join(', ');
    throw new UsageError(`config needs ${missing}`);
  }
  const parsed = parseHost(hostText, '--host');
  // A scheme cannot be written as a bare host: keep the text as given then.
  const host = /^https?:\/\//i.test(hostText) ? hostText : parsed.host;
  const port = portText !== undefined ? parsePort(portText, '--port') : parsed.port ?? DEFAULT_PORT;
  const path = configFilePath(s.flags, s.env);

  if (!opts.force && (await exists(path))) {
    if (!runtime.stdin.isTTY) throw new CliError(`${path} exists: pass -f to overwrite it`);
    if (!(await confirm(`File ${path} exists. Do you wish to overwrite it?`, runtime.stdin, runtime.stderr, s.signal))) {
      s.out.note('Answer is No. Quit now');
      return;
    }
  }
  await writeConfigFile(path, { host, port, accessId: id, accessKey: key, ...(opts.osshost ? { ossHost: opts.osshost } : {}) });
  s.out.result({ ConfigFile: path, Host: host, Port: port }, () => s.out.line(`Your configuration is saved to ${path}.`));
}

export function registerConfigCommand(program: Command, run: Runner, runtime: Runtime): void {
  const cmd = program.command('config').summary('save the service address and credentials')
    .description('Write the credentials file (default ~/.oascredentials, mode 0600) in the official oascmd format:\n\n'
      + '  [OASCredentials]\n  host = cn-hangzhou.oas.aliyuncs.com\n  port = 80\n  accessid = <AccessKeyId>\n  accesskey = <AccessKeySecret>\n\n'
      + 'Give --host, -i/--id and -k/--key; the port defaults to 80. An existing file\n'
      + 'is only replaced after a yes on the terminal, or with -f.')
    .option('-p <port>', 'service port (same as --port; default 80)')
    .option('--osshost <host>', 'OSS endpoint used by cp (kept from the old file when not given)')
    .option('-f, --force', 'overwrite an existing file without asking')
    .action(run<ConfigOpts>((s, _args, opts) => config(s, runtime, opts)));
  examples(cmd, [
    ['oascmd config --host cn-hangzhou.oas.aliyuncs.com -i <AccessKeyId> -k <AccessKeySecret>', ''],
    ['oascmd config --host 127.0.0.1 --port 8080 -i <AccessKeyId> -k <AccessKeySecret> -f', 'a local oas-server (it prints its key on first start)'],
    ['oascmd config --host 127.0.0.1:8080 -i <AccessKeyId> -k <AccessKeySecret> --config-file ./oas.ini', 'another file (use it with --config-file or OAS_CONFIG_FILE)'],
  ]);
}
