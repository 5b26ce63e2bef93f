/**
 * The contract between the Electron preload bridge and the renderer: what `window.canopy`
 * looks like, the IPC channel names and the envelope a call answers with. Types and two
 * string constants only, so the renderer can import it without pulling in anything of
 * Electron, and the preload (a self-contained CommonJS file, see preload.cts) repeats the
 * channel names literally; `preload.test.ts` checks that they agree.
 */
import type { ApiErrorShape, ApiEvent, CommandName, Params, Result } from '../core/api/types.js';

/** `ipcRenderer.invoke(CALL_CHANNEL, { command, params })` -> `BridgeReply`. */
export const CALL_CHANNEL = 'canopy:call';
/** Main -> renderer: one `ApiEvent` per message. */
export const EVENT_CHANNEL = 'canopy:event';

/**
 * A call's answer across IPC. Errors travel as data, not as thrown Errors: Electron keeps
 * only the message of an Error that crosses IPC or the context bridge, and the UI needs
 * the stable `code`.
 */
export type BridgeReply<T = unknown> = { ok: true; result: T } | { ok: false; error: ApiErrorShape };

/** What the preload exposes as `window.canopy`, and nothing more. */
export interface CanopyBridge {
  call<C extends CommandName>(command: C, params: Params<C>): Promise<BridgeReply<Result<C>>>;
  /** Returns the function that unsubscribes `listener`. */
  subscribe(listener: (event: ApiEvent) => void): () => void;
  /** The filesystem path of a dropped or picked `File` ('' if it has none). */
  getPathForFile(file: File): string;
}
