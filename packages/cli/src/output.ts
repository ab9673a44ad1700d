// Everything the CLI prints goes through here, so --json and --quiet are honoured in one
// place: results go to stdout (as text, or as one JSON value with --json), notes and
// progress to stderr.
import type { Writable } from 'node:stream';

export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
  stdout?: Writable & { isTTY?: boolean };
  stderr?: Writable & { isTTY?: boolean };
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  private emitted = false;
  private beforeWrite: (() => void) | undefined;

  constructor(options: OutputOptions = {}) {
    this.json = options.json ?? false;
    this.quiet = options.quiet ?? false;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
  }

  /**
   * Runs `hook` before anything is printed, until the returned function is called (a
   * progress bar clears its line this way).
   */
  setBeforeWrite(hook: () => void): () => void {
    this.beforeWrite = hook;
    return () => {
      if (this.beforeWrite === hook) this.beforeWrite = undefined;
    };
  }

  private write(stream: Writable, text: string): void {
    this.beforeWrite?.();
    stream.write(text);
  }

  /** A line of the human result (suppressed with --json, where result() says it all). */
  line(text = ''): void {
    if (!this.json) this.write(this.stdout, text + '\n');
  }

  /**
   * A message along the way ("File larger than 100MB, multipart upload will be used").
   * On stdout like the official tool in text mode; on stderr with --json (so stdout stays
   * one JSON value); not at all with --quiet.
   */
  note(text: string): void {
    if (this.quiet) return;
    this.write(this.json ? this.stderr : this.stdout, text + '\n');
  }

  /** Something the user must see even with --quiet and --json (e.g. how to resume). */
  important(text: string): void {
    this.write(this.json ? this.stderr : this.stdout, text + '\n');
  }

  /** A warning on stderr. */
  warn(text: string): void {
    if (!this.quiet) this.write(this.stderr, `oascmd: ${text}\n`);
  }

  /**
   * The command's result: with --json, `value` as one JSON document on stdout; otherwise
   * `human()` prints it. Call once per command.
   */
  result(value: unknown, human: () => void): void {
    if (this.json) {
      if (this.emitted) throw new Error('result() called twice');
      this.emitted = true;
      this.write(this.stdout, JSON.stringify(value, null, 2) + '\n');
    } else {
      human();
    }
  }

  /** Whether result() already wrote the JSON document. */
  get hasResult(): boolean {
    return this.emitted;
  }

  /** `key: value` lines with the keys right-aligned, as the official tool's kv_print. */
  keyValues(pairs: ReadonlyArray<readonly [string, unknown]>): void {
    const width = Math.max(0, ...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs) this.line(`${k.padStart(width)}: ${v === undefined || v === null ? '' : String(v)}`);
  }

  /** A table: a header row, a rule, left-aligned columns sized to their content. */
  table(headers: readonly string[], rows: ReadonlyArray<readonly unknown[]>): void {
    const cells = rows.map((r) => r.map((c) => (c === undefined || c === null ? '' : String(c))));
    const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
    const render = (r: readonly string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
    this.line(render(headers));
    this.line('-'.repeat(widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1)));
    for (const r of cells) this.line(render(r));
  }
}
