// Glue between commander and the command implementations: every action receives a
// Session, its positional arguments and its own options; help texts get an examples block.
import type { Command } from 'commander';
import { Session, type GlobalFlags } from './session.js';
import { Output } from './output.js';
import type { Readable, Writable } from 'node:stream';

/** The process around the CLI; tests and main() provide it. */
export interface Runtime {
  signal: AbortSignal;
  env: Record<string, string | undefined>;
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  /** Set by the action wrapper so the caller can close the client afterwards. */
  session?: Session;
}

export type Action<O extends object> = (session: Session, args: string[], opts: O) => Promise<void>;
export type Runner = <O extends object = Record<string, never>>(fn: Action<O>) => (...commanderArgs: unknown[]) => Promise<void>;

/** Makes the commander action for `fn`. */
export function runner(runtime: Runtime): Runner {
  return <O extends object>(fn: Action<O>) => async (...commanderArgs: unknown[]): Promise<void> => {
    const cmd = commanderArgs[commanderArgs.length - 1] as Command;
    const globals = cmd.optsWithGlobals<GlobalFlags>();
    const out = new Output({ json: globals.json, quiet: globals.quiet, stdout: runtime.stdout, stderr: runtime.stderr });
    const session = new Session(out, globals, runtime.signal, runtime.env);
    runtime.session = session;
    // One entry per declared argument; optional ones not given are undefined.
    await fn(session, cmd.processedArgs as string[], cmd.opts() as O);
  };
}

/** The "Examples:" block appended to a command's --help. */
export function examples(cmd: Command, lines: ReadonlyArray<readonly [string, string]>): Command {
  let text = '\nExamples:\n';
  for (const [example, comment] of lines) text += `  $ ${example}\n${comment ? `      ${comment}\n` : ''}`;
  return cmd.addHelpText('after', text);
}

/** The --marker/--limit pair of the listing commands. */
export function listOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--marker <marker>', `where to start: the Marker a previous page returned`)
    .option('--limit <n>', `most ${what} to list in this page`);
}
