/**
 * Views load what they show with `useCall` and act with `useAction`: both keep the call's
 * state (loading, result, error) so a view always has something to say, including when the
 * device's Canopy does not do a command yet (NOT_IMPLEMENTED) or the call fails.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { CommandName, Params, Result } from '../../core/api/types.js';
import { useCanopyStore } from './store-context.js';
import { describeError } from './store.js';

export interface CallError {
  code: string;
  message: string;
}

export type CallState<T> =
  | { state: 'loading'; data: T | null; error: null }
  | { state: 'ok'; data: T; error: null }
  | { state: 'error'; data: T | null; error: CallError };

/**
 * Calls `command` when mounted and whenever `key` changes (a string naming what the
 * params and the store's reload counters are); `reload()` calls it again.
 */
export function useCall<C extends CommandName>(command: C, params: Params<C> | null, key: string): CallState<Result<C>> & { reload: () => void } {
  const store = useCanopyStore();
  const [state, setState] = useState<CallState<Result<C>>>({ state: 'loading', data: null, error: null });
  const [nonce, setNonce] = useState(0);
  const paramsRef = useRef(params);
  paramsRef.current = params;

  useEffect(() => {
    const p = paramsRef.current;
    if (p === null) return;
    let live = true;
    setState((s) => ({ state: 'loading', data: s.data, error: null }));
    store.getState().client.call(command, p).then(
      (data) => live && setState({ state: 'ok', data, error: null }),
      (err: unknown) => live && setState((s) => ({ state: 'error', data: s.data, error: describeError(err) })),
    );
    return () => {
      live = false;
    };
  }, [store, command, key, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { ...state, reload };
}

export interface ActionState<T> {
  pending: boolean;
  error: CallError | null;
  result: T | null;
}

/** A command run on demand (a button): its pending flag, last result and last error. */
export function useAction<C extends CommandName>(command: C): ActionState<Result<C>> & { run: (params: Params<C>) => Promise<Result<C> | null>; reset: () => void } {
  const store = useCanopyStore();
  const [state, setState] = useState<ActionState<Result<C>>>({ pending: false, error: null, result: null });
  const live = useRef(true);
  useEffect(() => {
    live.current = true;
    return () => {
      live.current = false;
    };
  }, []);
  const run = useCallback(
    async (params: Params<C>) => {
      setState((s) => ({ ...s, pending: true, error: null }));
      try {
        const result = await store.getState().client.call(command, params);
        if (live.current) setState({ pending: false, error: null, result });
        return result;
      } catch (err) {
        if (live.current) setState((s) => ({ ...s, pending: false, error: describeError(err) }));
        return null;
      }
    },
    [store, command],
  );
  const reset = useCallback(() => setState({ pending: false, error: null, result: null }), []);
  return { ...state, run, reset };
}
