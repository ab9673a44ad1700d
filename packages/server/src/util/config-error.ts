// A configuration the server cannot run with (bad option, bad URI): a one-line message for
// the operator, exit code 2. Raised by the option parser and by the store opener alike.
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
