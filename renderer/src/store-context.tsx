/**
 * Hands the one store to the components: `<StoreProvider store>` at the root,
 * `useCanopy(selector)` below it. Selectors must return stable values (a field, not a new
 * object) or use `useShallow`, as zustand 5 requires.
 */
import { createContext, useContext, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { CanopyState, CanopyStore } from './store.js';

const StoreContext = createContext<CanopyStore | null>(null);

export function StoreProvider({ store, children }: { store: CanopyStore; children: ReactNode }) {
  return <StoreContext.Provider value={store}>{children}</StoreContext.Provider>;
}

export function useCanopyStore(): CanopyStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useCanopy must be used inside <StoreProvider>');
  return store;
}

export function useCanopy<T>(selector: (state: CanopyState) => T): T {
  return useStore(useCanopyStore(), selector);
}
