/**
 * Mounting a view over a store in the renderer's unit tests (happy-dom): one place for the
 * store refresh, the React root and the act() dance, shared by the view test files.
 */
import { act, type ReactNode } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import type { CanopyClient } from '../../core/api/types.js';
import { createCanopyStore } from './store.js';
import { StoreProvider } from './store-context.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let root: Root | null = null;
let container: HTMLElement | null = null;

/** Renders `ui` inside a store over `client` (refreshed first) and returns its container. */
export async function renderWithStore(client: CanopyClient, ui: ReactNode): Promise<HTMLElement> {
  const store = createCanopyStore(client, { refreshDelayMs: 0 });
  await store.getState().refresh();
  const el = document.createElement('div');
  container = el;
  document.body.append(el);
  root = createRoot(el);
  await act(async () => root?.render(<StoreProvider store={store}>{ui}</StoreProvider>));
  await settle();
  return el;
}

/** Lets pending calls resolve and React re-render. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await act(async () => new Promise((r) => setTimeout(r, 0)));
}

/** Unmounts what renderWithStore mounted (call in afterEach). */
export async function unmountRendered(): Promise<void> {
  await act(async () => root?.unmount());
  root = null;
  container?.remove();
  container = null;
}
