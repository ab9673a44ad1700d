// docs/protocol.md §7.3 lists exactly the commands and aliases oascmd has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { buildProgram } from '../src/program.js';

/** The backticked names of the first column of the table after `<!-- vectors: oascmd-commands -->`. */
function documentedCommands(): string[] {
  const lines = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8').split('\n');
  const at = lines.indexOf('<!-- vectors: oascmd-commands -->');
  assert.ok(at >= 0, 'docs/protocol.md §7.3 has the oascmd-commands table');
  const names: string[] = [];
  for (let i = at + 3; lines[i]?.startsWith('|'); i++) {
    const first = lines[i]!.split('|')[1]!;
    for (const m of first.matchAll(/`([a-z]+)`/g)) if (m[1] !== 'oascmd') names.push(m[1]!);
  }
  return names;
}

test('protocol.md §7.3 names every oascmd command and alias, and only those', () => {
  const io = () => new PassThrough();
  const program = buildProgram({ signal: new AbortController().signal, env: {}, stdin: io(), stdout: io(), stderr: io() });
  // `help` is commander's own command, not in program.commands.
  const actual = [...program.commands.flatMap((c) => [c.name(), ...c.aliases()]), 'help'];
  const documented = documentedCommands();
  assert.ok(documented.length >= 27, `only ${documented.length} commands documented`);
  assert.deepEqual([...new Set(documented)].sort(), [...new Set(actual)].sort());
  assert.equal(new Set(documented).size, documented.length, 'each command once');
});
