/**
 * The UI's one client of core/api, over whichever transport the page finds:
 *   - in the desktop app, the preload bridge `window.canopy` (Electron IPC);
 *   - in a browser, HTTP + WebSocket to the daemon that served the page, with the token
 *     the daemon put in the address (`/?token=...`). The token then moves to
 *     sessionStorage and leaves the address bar, so it is not bookmarked or shared.
 * Everything above this file sees the same `CanopyClient`.
 */
import { ApiCallError, connectHttp, type WebSocketCtor } from '../../core/api/http-client.js';
import type { ApiEvent, CanopyClient, CommandName, Params, Result } from '../../core/api/types.js';
import type { CanopyBridge } from '../../electron/bridge.js';

export type Transport = 'electron' | 'http';

export interface Connection {
  client: CanopyClient;
  transport: Transport;
  /** The filesystem path of a dropped file or folder (desktop only). */
  pathForFile?: ((file: File) => string) | undefined;
}

export const TOKEN_KEY = 'canopy.token';

export function isBridge(value: unknown): value is CanopyBridge {
  if (typeof value !== 'object' || value === null) return false;
  const b = value as Record<string, unknown>;
  return typeof b['call'] === 'function' && typeof b['subscribe'] === 'function' && typeof b['getPathForFile'] === 'function';
}

/** The bridge's envelopes as a CanopyClient whose errors carry the API's code. */
export function bridgeClient(bridge: CanopyBridge): CanopyClient {
  return {
    async call<C extends CommandName>(command: C, params: Params<C>): Promise<Result<C>> {
      const reply = await bridge.call(command, params);
      if (reply.ok) return reply.result;
      throw new ApiCallError(reply.error.code, reply.error.message, reply.error.details);
    },
    subscribe(listener: (event: ApiEvent) => void) {
      return bridge.subscribe(listener);
    },
  };
}

/** Splits `?token=` off an address: the token (or null) and the address without it. */
export function takeToken(href: string): { token: string | null; cleaned: string } {
  const url = new URL(href);
  const token = url.searchParams.get('token');
  if (token === null) return { token: null, cleaned: href };
  url.searchParams.delete('token');
  return { token: token === '' ? null : token, cleaned: url.href };
}

export interface BrowserEnv {
  bridge: unknown;
  href: string;
  origin: string;
  protocol: string;
  storage: Pick<Storage, 'getItem' | 'setItem'> | null;
  replaceUrl: (url: string) => void;
  WebSocket?: WebSocketCtor | undefined;
}

function browserEnv(): BrowserEnv {
  let storage: BrowserEnv['storage'] = null;
  try {
    storage = window.sessionStorage;
  } catch {
    // Storage can be disabled; the token then lives only as long as this page.
  }
  return {
    bridge: (window as { canopy?: unknown }).canopy,
    href: window.location.href,
    origin: window.location.origin,
    protocol: window.location.protocol,
    storage,
    replaceUrl: (url) => window.history.replaceState(window.history.state, '', url),
    // The DOM's WebSocket types its handlers with DOM event types; it fits WebSocketLike.
    WebSocket: window.WebSocket as unknown as WebSocketCtor,
  };
}

/** Picks the transport. Throws an ApiCallError the UI can show when there is none. */
export function connect(env: BrowserEnv = browserEnv()): Connection {
  if (isBridge(env.bridge)) {
    const bridge = env.bridge;
    return { client: bridgeClient(bridge), transport: 'electron', pathForFile: (file) => bridge.getPathForFile(file) };
  }
  if (env.protocol !== 'http:' && env.protocol !== 'https:') {
    throw new ApiCallError('DAEMON_UNREACHABLE', 'This page has no connection to Canopy. Open it from the desktop app, or from the address that "canopy daemon" prints.');
  }
  const { token: fromUrl, cleaned } = takeToken(env.href);
  if (fromUrl !== null) {
    try {
      env.storage?.setItem(TOKEN_KEY, fromUrl);
    } catch {
      // Quota or privacy mode: keep going with the token in memory.
    }
    env.replaceUrl(cleaned);
  }
  let token = fromUrl;
  if (token === null) {
    try {
      token = env.storage?.getItem(TOKEN_KEY) ?? null;
    } catch {
      token = null;
    }
  }
  if (!token) {
    throw new ApiCallError('UNAUTHORIZED', 'This page needs the access token of the Canopy daemon. Open the address that "canopy daemon" prints (it ends in ?token=…).');
  }
  return { client: connectHttp({ url: env.origin, token, WebSocket: env.WebSocket }), transport: 'http' };
}
