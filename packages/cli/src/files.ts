// Local files the commands read and write.
import { stat } from 'node:fs/promises';
import { MIB } from '@oas/sdk/protocol';
import { CliError } from './errors.js';

/** Progress bars only for data at least this large; smaller work is done before one would show. */
export const BAR_MIN = 16 * MIB;

/** The size of a regular file, or a one-line error naming it. */
export async function fileSize(path: string): Promise<number> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `file '${path}' does not exist` : `cannot read '${path}': ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new CliError(`'${path}' is not a regular file`);
  return st.size;
}

/** Whether something exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
