/**
 * The client side of the HTTP + WebSocket transport: the same `CanopyClient` as the
 * in-process one, so the CLI and the web UI run unchanged against a daemon. No Node
 * imports: the browser uses it too. Node 20 has no global WebSocket, so the constructor is
 * passed in (the CLI passes `ws`'s).
 */
import type { ApiErrorShape, ApiEvent, CanopyClient, CommandName, Params, Result } from './types.js';

export interface WebSocketLike {
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(): void;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

/** An error the API answered with, carrying its stable code. */
export class ApiCallError extends Error {
  constructor(readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiCallError';
  }
}

export function connectHttp(opts: { url: string; token: string; WebSocket?: WebSocketCtor | undefined }): CanopyClient {
  const listeners = new Set<(e: ApiEvent) => void>();
  let socket: WebSocketLike | undefined;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  function openSocket(): void {
    const Ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!Ctor || closed || socket) return;
    const wsUrl = `${opts.url.replace(/^http/, 'ws')}/api/v1/events?token=${encodeURIComponent(opts.token)}`;
    const ws = new Ctor(wsUrl);
    socket = ws;
    ws.onmessage = (ev) => {
      let event: ApiEvent;
      try {
        event = JSON.parse(String(ev.data)) as ApiEvent;
      } catch {
        return;
      }
      for (const l of listeners) l(event);
    };
    ws.onerror = () => undefined;
    ws.onclose = () => {
      socket = undefined;
      // The daemon restarted or the laptop slept: reconnect while anyone listens.
      if (!closed && listeners.size > 0) retry = setTimeout(openSocket, 1000);
    };
  }

  return {
    async call<C extends CommandName>(command: C, params: Params<C>): Promise<Result<C>> {
      let res: Response;
      try {
        res = await fetch(`${opts.url}/api/v1/call/${command}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.token}` },
          body: JSON.stringify(params ?? {}),
        });
      } catch (err) {
        throw new ApiCallError('DAEMON_UNREACHABLE', `the daemon at ${opts.url} does not answer (${err instanceof Error ? err.message : String(err)})`);
      }
      let body: { ok: true; result: Result<C> } | { ok: false; error: ApiErrorShape };
      try {
        body = (await res.json()) as typeof body;
      } catch {
        throw new ApiCallError('DAEMON_UNREACHABLE', `the daemon at ${opts.url} sent a response that is not JSON (HTTP ${res.status})`);
      }
      if (!body.ok) throw new ApiCallError(body.error.code, body.error.message, body.error.details);
      return body.result;
    },
    subscribe(listener) {
      listeners.add(listener);
      openSocket();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) socket?.close();
      };
    },
    close() {
      closed = true;
      clearTimeout(retry);
      socket?.close();
    },
  };
}
