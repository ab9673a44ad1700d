// The INI dialect of Python's ConfigParser, which wrote the official tool's credentials
// file: `[section]`, `key = value` or `key: value`, option names case-insensitive,
// `#`/`;` comment lines, ` ;` inline comments, indented continuation lines.

export type IniSections = Map<string, Map<string, string>>;

export function parseIni(text: string): IniSections {
  const sections: IniSections = new Map();
  let current: Map<string, string> | undefined;
  let lastKey: string | undefined;
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    if (/^\s*([#;]|$)/.test(raw) || /^rem(\s|$)/i.test(raw)) {
      lastKey = undefined;
      continue;
    }
    if (/^\s/.test(raw) && current && lastKey !== undefined) {
      current.set(lastKey, `${current.get(lastKey)}\n${stripInlineComment(raw).trim()}`);
      continue;
    }
    const section = /^\s*\[([^\]]+)\]/.exec(raw);
    if (section) {
      const name = section[1]!.trim();
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      lastKey = undefined;
      continue;
    }
    const option = /^\s*([^:=\s][^:=]*?)\s*[:=]\s*(.*)$/.exec(raw);
    if (option && current) {
      lastKey = option[1]!.toLowerCase();
      current.set(lastKey, stripInlineComment(option[2]!).trim());
    }
  }
  return sections;
}

// ConfigParser treats `;` after whitespace as a comment; `#` too, for files written by hand.
function stripInlineComment(value: string): string {
  const m = /\s[;#]/.exec(value);
  return m ? value.slice(0, m.index) : value;
}

/** Writes sections as ConfigParser does: `key = value` lines, a blank line after each. */
export function formatIni(sections: IniSections): string {
  let out = '';
  for (const [name, options] of sections) {
    out += `[${name}]\n`;
    for (const [key, value] of options) out += `${key} = ${value.replace(/\n/g, '\n\t')}\n`;
    out += '\n';
  }
  return out;
}
