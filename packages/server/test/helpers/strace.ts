// Debian's strace around a child process, and its output read back as events: which
// system calls ran, in which order, on which file. A SIGKILL cannot show a missing fsync
// (the page cache survives it); the order of the calls can.
import { spawnSync } from 'node:child_process';

/** The calls an fsync audit needs: files opened and closed, bytes written, syncs, renames. */
export const AUDIT_CALLS = ['openat', 'close', 'write', 'writev', 'pwrite64', 'fsync', 'fdatasync', 'rename', 'renameat', 'renameat2'];

/** Throws, with the command that installs it, when strace is not there. */
export function requireStrace(): void {
  const r = spawnSync('strace', ['-V'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error('strace is not installed: apt-get install -y strace (npm test installs it with its system dependencies)');
  }
}

/** The strace arguments that run `command` with the audit's calls traced into `outFile`. */
export function straceArgs(outFile: string, command: string[]): string[] {
  // -f: every thread (libuv's pool does the file I/O); -s: enough of each buffer to see a
  // response's head; -qq: no attach/exit chatter.
  return ['-f', '-qq', '-s', '1024', '-e', `trace=${AUDIT_CALLS.join(',')}`, '-o', outFile, ...command];
}

export interface SysEvent {
  /** Position of the line where the call started, and of the one where it returned. */
  start: number;
  end: number;
  call: string;
  args: string;
  /** The return value as text (`0`, `23`, `-1 ENOSPC (...)`). */
  ret: string;
  /** File paths the call names or whose descriptor it uses (openat, rename*: the names; fd calls: the fd's file). */
  paths: string[];
  /** The descriptor of an fd call. */
  fd?: number;
}

const LINE = /^(\d+) +(.*)$/;
const CALL = /^([a-z0-9_]+)\((.*)$/;
const RESUMED = /^<\.\.\. ([a-z0-9_]+) resumed>(.*)$/;
const UNFINISHED = ' <unfinished ...>';
const STRING = /"((?:[^"\\]|\\.)*)"/g;

/** The C-escaped strings of a call's arguments, unescaped only as far as paths need. */
function strings(args: string): string[] {
  return [...args.matchAll(STRING)].map((m) => m[1]!.replace(/\\(["\\])/g, '$1'));
}

/** `args) = ret`, where strace pads short calls with spaces before the `=`. */
const RESULT = /\) *= ([^=]*)$/;

function splitResult(rest: string): { args: string; ret: string } {
  const m = RESULT.exec(rest);
  if (!m) return { args: rest, ret: '?' };
  return { args: rest.slice(0, m.index), ret: m[1]! };
}

/**
 * The events of an strace -f output, in the order they returned, each with the files it
 * touched (descriptors followed through openat and close).
 */
export function parseTrace(text: string): SysEvent[] {
  const pending = new Map<string, { start: number; call: string; head: string }>();
  const done: SysEvent[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    const m = LINE.exec(line);
    if (!m) return;
    const [, pid, body] = m as unknown as [string, string, string];
    let call: string;
    let start = index;
    let full: string;
    const resumed = RESUMED.exec(body);
    if (resumed) {
      const open = pending.get(pid);
      if (!open || open.call !== resumed[1]) return;
      pending.delete(pid);
      call = open.call;
      start = open.start;
      full = open.head + resumed[2]!;
    } else {
      const c = CALL.exec(body);
      if (!c) return; // signals, exits
      call = c[1]!;
      if (c[2]!.endsWith(UNFINISHED)) {
        pending.set(pid, { start: index, call, head: c[2]!.slice(0, -UNFINISHED.length) });
        return;
      }
      full = c[2]!;
    }
    const { args, ret } = splitResult(full);
    done.push({ start, end: index, call, args, ret, paths: [] });
  });
  // Descriptors in the order the calls returned (an fd exists from its openat's return).
  const files = new Map<number, string>();
  for (const e of done) {
    const names = strings(e.args);
    if (e.call === 'openat') {
      const fd = Number(e.ret);
      e.paths = names.slice(0, 1);
      if (Number.isInteger(fd) && fd >= 0 && names[0] !== undefined) files.set(fd, names[0]);
    } else if (e.call.startsWith('rename')) {
      e.paths = names.slice(0, 2);
    } else {
      const fd = Number(/^(\d+)/.exec(e.args)?.[1]);
      if (Number.isInteger(fd)) {
        e.fd = fd;
        const path = files.get(fd);
        if (path !== undefined) e.paths = [path];
        if (e.call === 'close') files.delete(fd);
      }
    }
  }
  return done;
}
