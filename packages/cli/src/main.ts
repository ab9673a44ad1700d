// The oascmd process: signals, stdout errors, the exit code.
import { run } from './cli.js';

const controller = new AbortController();
let signals = 0;
function onSignal(signal: NodeJS.Signals): void {
  // First Ctrl-C: stop cleanly (the command says how to resume). Second: quit now.
  if (++signals > 1) process.exit(130);
  process.stderr.write(`\noascmd: ${signal}: stopping (again to quit at once)\n`);
  controller.abort(Object.assign(new Error(`interrupted by ${signal}`), { name: 'AbortError' }));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// `oascmd ls | head -1`: a closed pipe is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
});

function fatal(e: unknown): never {
  process.stderr.write(`oascmd: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  if (process.env.OASCMD_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

const code = await run(process.argv.slice(2), {
  signal: controller.signal,
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
// stdout/stderr are synchronous for files, pipes and terminals on POSIX, so nothing is lost;
// exiting here also ends worker threads and kept-alive sockets.
process.exit(code);
