// What the router hands a page.
import type { Api } from '../api.js';

export interface PageContext {
  api: Api;
  main: HTMLElement;
  /** Aborted when the page is left (stop polling, drop late results). */
  signal: AbortSignal;
  rerender(): void;
  /** The hash route split on '/': ['vaults', id, tab] ... */
  params: string[];
}
