/**
 * The desktop app runs its engine on a worker thread, so the main process (tray, windows,
 * IPC) never waits on SQLite queries, log signing, chunk verification or the network. This
 * file is the link between the two: `serveApi` answers calls and forwards events on the
 * engine's side, `LinkClient` is a CanopyClient on the main side. Any MessagePort-like pair
 * carries it (a Worker and its parentPort; a MessageChannel in tests). Plain data only.
 */
import { Worker } from 'node:worker_threads';
import { ApiCallError } from '../core/api/http-client.js';
import type { ApiEvent, CanopyClient, CommandName, Params, Result } from '../core/api/types.js';
import type { BridgeReply } from './bridge.js';
import { toErrorShape } from './ipc.js';

export type ToEngine = { type: 'call'; id: number; command: CommandName; params: unknown } | { type: 'stop' };
export type FromEngine =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'reply'; id: number; reply: BridgeReply }
  | { type: 'event'; event: ApiEvent }
  | { type: 'log'; line: string }
  | { type: 'stopped' };

/** What the engine thread is started with. */
export interface EngineThreadData {
  home: string;
  /** DHT bootstrap nodes replacing the config's (tests use a local testnet). */
  bootstrap?: string[] | undefined;
}

export interface PortLike<In, Out> {
  postMessage(message: Out): void;
  on(event: 'message', listener: (message: In) => void): unknown;
}

/** The engine's side: runs every call on `api`, forwards every event, stops on request. */
export function serveApi(api: CanopyClient, port: PortLike<ToEngine, FromEngine>, stop: () => Promise<void>): void {
  api.subscribe((event) => port.postMessage({ type: 'event', event }));
  port.on('message', (msg) => {
    if (msg.type === 'stop') {
      void stop().finally(() => port.postMessage({ type: 'stopped' }));
      return;
    }
    api.call(msg.command, msg.params as never).then(
      (result) => port.postMessage({ type: 'reply', id: msg.id, reply: { ok: true, result } }),
      (err: unknown) => port.postMessage({ type: 'reply', id: msg.id, reply: { ok: false, error: toErrorShape(err) } }),
    );
  });
  port.postMessage({ type: 'ready' });
}

/** The main process's side: a CanopyClient whose calls and events cross to the engine thread. */
export class LinkClient implements CanopyClient {
  readonly ready: Promise<void>;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(e: ApiEvent) => void>();
  private nextId = 1;
  private gone: string | null = null;
  private stopped: (() => void) | null = null;

  constructor(private readonly port: PortLike<FromEngine, ToEngine>, private readonly log: (line: string) => void = () => undefined) {
    let onReady: () => void = () => undefined;
    let onFatal: (e: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFatal = reject;
    });
    port.on('message', (msg) => {
      switch (msg.type) {
        case 'ready':
          onReady();
          break;
        case 'fatal':
          onFatal(new ApiCallError('ENGINE_FAILED', msg.message));
          this.end(msg.message);
          break;
        case 'reply': {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (!p) break;
          if (msg.reply.ok) p.resolve(msg.reply.result);
          else p.reject(new ApiCallError(msg.reply.error.code, msg.reply.error.message, msg.reply.error.details));
          break;
        }
        case 'event':
          for (const l of this.listeners) l(msg.event);
          break;
        case 'log':
          this.log(msg.line);
          break;
        case 'stopped':
          this.end('the engine has stopped');
          this.stopped?.();
          break;
      }
    });
  }

  call<C extends CommandName>(command: C, params: Params<C>): Promise<Result<C>> {
    if (this.gone !== null) return Promise.reject(new ApiCallError('ENGINE_STOPPED', `Canopy's engine is not running: ${this.gone}`));
    const id = this.nextId++;
    return new Promise<Result<C>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.postMessage({ type: 'call', id, command, params });
    });
  }

  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Asks the engine to close cleanly; resolves once it has. */
  stop(): Promise<void> {
    if (this.gone !== null) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.stopped = resolve;
      this.port.postMessage({ type: 'stop' });
    });
  }

  /** The engine thread is gone (stopped, crashed or exited): every waiting call fails with why. */
  end(why: string): void {
    if (this.gone !== null) return;
    this.gone = why;
    for (const p of this.pending.values()) p.reject(new ApiCallError('ENGINE_STOPPED', `Canopy's engine is not running: ${why}`));
    this.pending.clear();
    this.stopped?.();
  }
}

export interface EngineThread {
  client: LinkClient;
  /** Closes the engine cleanly, then ends the thread. */
  stop(): Promise<void>;
}

/**
 * Starts the engine thread for `data.home` and resolves once its API answers (or rejects
 * with why the home could not be opened). `script` is the compiled engine-thread.js.
 */
export async function startEngineThread(data: EngineThreadData, opts: { log: (line: string) => void; script?: URL | string }): Promise<EngineThread> {
  const worker = new Worker(opts.script ?? new URL('./engine-thread.js', import.meta.url), { workerData: data });
  const client = new LinkClient(worker as unknown as PortLike<FromEngine, ToEngine>, opts.log);
  worker.on('error', (err) => {
    opts.log(`the engine thread failed: ${err.message}`);
    client.end(err.message);
  });
  worker.on('exit', (code) => client.end(`the engine thread exited (code ${code})`));
  try {
    await client.ready;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    client,
    stop() {
      stopping ??= client.stop().then(async () => {
        await worker.terminate();
      });
      return stopping;
    },
  };
}
