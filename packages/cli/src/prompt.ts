// A yes/no question on the terminal (only asked when stdin is one).
import { createInterface } from 'node:readline/promises';
import type { Readable, Writable } from 'node:stream';

export async function confirm(question: string, input: Readable, output: Writable, signal?: AbortSignal): Promise<boolean> {
  const rl = createInterface({ input, output, terminal: false });
  try {
    const answer = await rl.question(`${question} (y/n) `, signal ? { signal } : {});
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}
