// Fenced code blocks of the project's Markdown pages (README.md and docs/*.md), found at
// test time so that pages and snippets added later are covered too.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export interface CodeBlock {
  /** Page path relative to the repository root. */
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** First word of the info string, lower-cased (`ts`, `sh`, …; '' when none). */
  lang: string;
  /** The other words of the info string (`no-run`, …). */
  flags: string[];
  code: string;
}

/** README.md, then docs/*.md in name order. */
export function markdownPages(root = REPO_ROOT): string[] {
  let docs: string[] = [];
  try {
    docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`);
  } catch {
    // No docs directory: the README alone.
  }
  return ['README.md', ...docs];
}

/** The fenced code blocks (``` or ~~~, any length ≥ 3) of one page, in order. */
export function codeBlocks(page: string, root = REPO_ROOT): CodeBlock[] {
  const lines = readFileSync(join(root, page), 'utf8').split('\n');
  const out: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const [lang = '', ...flags] = open[2]!.trim().split(/\s+/).filter(Boolean);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(lines[j]!);
      if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) break;
      body.push(lines[j]!);
    }
    out.push({ page, line: i + 1, lang: lang.toLowerCase(), flags, code: body.join('\n') });
    i = j;
  }
  return out;
}
