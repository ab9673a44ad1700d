// Errors the stores raise on purpose. A front end never sees these: the service turns
// the ones a client can cause into domain errors; the rest are bugs or outages.

/** A store invariant did not hold (inconsistent input or state): a bug, never the client's. */
export class StoreInvariantError extends Error {
  override readonly name: string = 'StoreInvariantError';
}

/** The record a new row belongs to is gone (its vault was deleted meanwhile). */
export class MissingParentError extends StoreInvariantError {
  override readonly name = 'MissingParentError';
  constructor(readonly parent: 'vault' | 'upload', readonly id: string) {
    super(`${parent} ${id} does not exist`);
  }
}
