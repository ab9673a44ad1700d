// Runs one command line and turns every outcome into an exit code; nothing escapes as a
// stack trace (OASCMD_DEBUG=1 adds them).
import { buildProgram } from './program.js';
import type { Runtime } from './command.js';
import { describeFailure, UsageError } from './errors.js';

const SILENT = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

export async function run(argv: string[], runtime: Runtime): Promise<number> {
  const program = buildProgram(runtime);
  try {
    if (argv.length === 0) {
      runtime.stderr.write(program.helpInformation());
      return 2;
    }
    // commander answers `help <unknown>` with the whole help; say what is wrong instead.
    const topic = argv[0] === 'help' ? argv[1] : undefined;
    if (topic !== undefined && !topic.startsWith('-') && !program.commands.some((c) => c.name() === topic || c.aliases().includes(topic))) {
      throw new UsageError(`unknown command '${topic}' (see oascmd help)`);
    }
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    return report(e, argv, runtime);
  } finally {
    runtime.session?.close();
  }
}

function report(e: unknown, argv: string[], runtime: Runtime): number {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && SILENT.has(code)) {
    return (e as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const failure = describeFailure(e);
  const out = runtime.session?.out;
  const json = out ? out.json : argv.includes('--json');
  if (json && !out?.hasResult) runtime.stdout.write(JSON.stringify({ error: { ...failure.json, exitCode: failure.exitCode } }, null, 2) + '\n');
  runtime.stderr.write(`oascmd: ${failure.message}\n`);
  if (runtime.env.OASCMD_DEBUG && e instanceof Error && e.stack) runtime.stderr.write(`${e.stack}\n`);
  return failure.exitCode;
}
