/**
 * How a CLI command reaches the engine: through the running daemon's API when there is
 * one (so it never opens a home a daemon holds), else by opening the home directly for
 * the length of the command.
 */
import WebSocket from 'ws';
import { Engine } from '../engine/index.js';
import { ApiService } from '../api/service.js';
import { connectHttp, type WebSocketCtor } from '../api/http-client.js';
import type { CanopyClient } from '../api/types.js';
import { readDaemonInfo } from '../daemon/index.js';

/**
 * Runs `fn` with a client of the home's engine. `via` says which: 'daemon' (the running
 * daemon, which also watches, indexes and syncs on its own) or 'direct' (the home opened
 * for this command only, which does nothing once the command ends).
 */
export async function withClient<T>(home: string, fn: (client: CanopyClient, via: 'daemon' | 'direct') => Promise<T>): Promise<T> {
  const daemon = readDaemonInfo(home);
  if (daemon) {
    const client = connectHttp({ url: daemon.url, token: daemon.token, WebSocket: WebSocket as unknown as WebSocketCtor });
    try {
      return await fn(client, 'daemon');
    } finally {
      await client.close?.();
    }
  }
  const engine = Engine.open(home, 'cli');
  try {
    return await fn(new ApiService(engine), 'direct');
  } finally {
    await engine.close();
  }
}
