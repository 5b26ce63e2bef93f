/**
 * The HTTP + WebSocket transport of the API, for the headless daemon, its web UI and the
 * CLI. It listens on loopback only and every request must carry the daemon's random token
 * (a Bearer header, or `?token=` for the browser's WebSocket). The Host header is checked
 * too, so a web page elsewhere cannot reach the API through DNS rebinding.
 *
 *   POST /api/v1/call/<command>   JSON params -> { ok: true, result } | { ok: false, error }
 *   GET  /api/v1/events           WebSocket: one JSON ApiEvent per message
 *   GET  /api/v1/health           { ok: true } (no token, no facts)
 */
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { CanopyError, type ErrorCode } from '../errors/index.js';
import { isCommandName, MAX_API_CONTENT_BYTES, type CanopyClient, type CommandName } from './types.js';

export interface HttpApiOptions {
  host: string;
  port: number;
  token: string;
  /** Extra routes (the web UI's static files) tried before a 404. */
  fallback?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export interface HttpApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Room for merged content (`conflict.resolve`, base64) plus the request around it. */
const MAX_BODY = Math.ceil(MAX_API_CONTENT_BYTES / 3) * 4 + 1024 * 1024;

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_ARGUMENT: 400, BAD_PATH: 400, BAD_CONFIG: 400, UNAUTHORIZED: 401, NOT_FOUND: 404, CONFLICT: 409, HOME_LOCKED: 409,
  NOT_INITIALIZED: 409, ALREADY_INITIALIZED: 409, QUOTA_EXCEEDED: 507, DISK_FULL: 507,
};

export async function startHttpApi(api: CanopyClient, opts: HttpApiOptions): Promise<HttpApiServer> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const sockets = new Set<WebSocket>();
  let port = opts.port;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => sendError(res, err));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!hostAllowed(req.headers.host, port)) return sendJson(res, 403, { ok: false, error: { code: 'UNAUTHORIZED', message: 'forbidden host' } });
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/api/v1/health') return sendJson(res, 200, { ok: true });
    if (url.pathname.startsWith('/api/')) {
      if (!authorized(req, url, opts.token)) throw new CanopyError('UNAUTHORIZED', 'missing or wrong API token');
      const m = /^\/api\/v1\/call\/([a-z.]+)$/.exec(url.pathname);
      if (!m || req.method !== 'POST') throw new CanopyError('NOT_FOUND', `no such endpoint: ${req.method} ${url.pathname}`);
      const command = m[1] as string;
      if (!isCommandName(command)) throw new CanopyError('NOT_FOUND', `unknown command "${command}"`);
      const params = await readJson(req);
      const result = await api.call(command as CommandName, params as never);
      return sendJson(res, 200, { ok: true, result });
    }
    if (opts.fallback?.(req, res)) return;
    sendJson(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: 'not found' } });
  }

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/api/v1/events' || !hostAllowed(req.headers.host, port) || !authorized(req, url, opts.token)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      const unsubscribe = api.subscribe((event) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event));
      });
      ws.on('close', () => {
        sockets.delete(ws);
        unsubscribe();
      });
      ws.on('error', () => ws.terminate());
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    port,
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function authorized(req: http.IncomingMessage, url: URL, token: string): boolean {
  const header = req.headers.authorization;
  const given = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token') ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function hostAllowed(host: string | undefined, port: number): boolean {
  if (!host) return false;
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host.toLowerCase());
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new CanopyError('BAD_ARGUMENT', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new CanopyError('BAD_ARGUMENT', 'request body is not valid JSON');
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(data);
}

function sendError(res: http.ServerResponse, err: unknown): void {
  if (res.headersSent) return void res.destroy();
  if (err instanceof CanopyError) return sendJson(res, STATUS[err.code] ?? 500, { ok: false, error: err.toJSON() });
  // Not a CanopyError: a bug. The message goes out, the stack stays in the daemon's log.
  console.error('canopy daemon: internal error:', err);
  sendJson(res, 500, { ok: false, error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } });
}
