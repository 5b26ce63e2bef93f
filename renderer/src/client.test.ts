import { describe, expect, it, vi } from 'vitest';
import { ApiCallError } from '../../core/api/http-client.js';
import type { ApiEvent } from '../../core/api/types.js';
import type { BridgeReply, CanopyBridge } from '../../electron/bridge.js';
import { TOKEN_KEY, bridgeClient, connect, isBridge, takeToken, type BrowserEnv } from './client.js';

function fakeBridge(reply: BridgeReply): CanopyBridge & { listeners: Set<(e: ApiEvent) => void> } {
  const listeners = new Set<(e: ApiEvent) => void>();
  return {
    listeners,
    call: vi.fn(async () => reply) as unknown as CanopyBridge['call'],
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    getPathForFile: () => '/dropped/folder',
  };
}

function env(over: Partial<BrowserEnv> = {}): BrowserEnv & { stored: Map<string, string>; replaced: string[] } {
  const stored = new Map<string, string>();
  const replaced: string[] = [];
  return {
    bridge: undefined,
    href: 'http://127.0.0.1:7420/',
    origin: 'http://127.0.0.1:7420',
    protocol: 'http:',
    storage: { getItem: (k) => stored.get(k) ?? null, setItem: (k, v) => void stored.set(k, v) },
    replaceUrl: (u) => void replaced.push(u),
    stored,
    replaced,
    ...over,
  };
}

describe('takeToken', () => {
  it('removes only the token from the address', () => {
    expect(takeToken('http://127.0.0.1:7420/?token=abc&view=folders#x')).toEqual({ token: 'abc', cleaned: 'http://127.0.0.1:7420/?view=folders#x' });
    expect(takeToken('http://127.0.0.1:7420/?token=abc')).toEqual({ token: 'abc', cleaned: 'http://127.0.0.1:7420/' });
  });
  it('leaves an address without a token alone', () => {
    expect(takeToken('http://127.0.0.1:7420/')).toEqual({ token: null, cleaned: 'http://127.0.0.1:7420/' });
  });
  it('treats an empty token as none', () => {
    expect(takeToken('http://localhost:1/?token=').token).toBeNull();
  });
});

describe('connect', () => {
  it('prefers the Electron bridge when present', () => {
    const bridge = fakeBridge({ ok: true, result: [] });
    const c = connect(env({ bridge, protocol: 'file:', href: 'file:///app/index.html', origin: 'null' }));
    expect(c.transport).toBe('electron');
    expect(c.pathForFile?.({} as File)).toBe('/dropped/folder');
  });

  it('ignores something that only looks like a bridge', () => {
    expect(isBridge({ call() {} })).toBe(false);
    expect(isBridge(null)).toBe(false);
  });

  it('takes the token from the address into session storage and cleans the address', () => {
    const e = env({ href: 'http://127.0.0.1:7420/?token=s3cret' });
    const c = connect(e);
    expect(c.transport).toBe('http');
    expect(c.pathForFile).toBeUndefined();
    expect(e.stored.get(TOKEN_KEY)).toBe('s3cret');
    expect(e.replaced).toEqual(['http://127.0.0.1:7420/']);
  });

  it('uses the stored token after a reload', () => {
    const e = env();
    e.stored.set(TOKEN_KEY, 'kept');
    expect(connect(e).transport).toBe('http');
    expect(e.replaced).toEqual([]);
  });

  it('sends the token with every call', async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify({ ok: true, result: [] }), { status: 200 }));
    vi.stubGlobal('fetch', fetchMock);
    try {
      const c = connect(env({ href: 'http://127.0.0.1:7420/?token=s3cret' }));
      await expect(c.client.call('folder.list', {})).resolves.toEqual([]);
      const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
      expect(url).toBe('http://127.0.0.1:7420/api/v1/call/folder.list');
      expect((init.headers as Record<string, string>)['authorization']).toBe('Bearer s3cret');
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('explains a missing token', () => {
    expect(() => connect(env())).toThrow(ApiCallError);
    expect(() => connect(env())).toThrow(/access token/);
  });

  it('explains a page opened from a file without the desktop app', () => {
    expect(() => connect(env({ protocol: 'file:', href: 'file:///x/index.html' }))).toThrow(/no connection to Canopy/);
  });
});

describe('bridgeClient', () => {
  it('unwraps results', async () => {
    const bridge = fakeBridge({ ok: true, result: [{ id: 'a' }] });
    await expect(bridgeClient(bridge).call('folder.list', {})).resolves.toEqual([{ id: 'a' }]);
    expect(bridge.call).toHaveBeenCalledWith('folder.list', {});
  });

  it('turns error envelopes into ApiCallErrors with their code', async () => {
    const bridge = fakeBridge({ ok: false, error: { code: 'BAD_ARGUMENT', message: 'folder.add: path: too short', details: { field: 'path' } } });
    const err = await bridgeClient(bridge).call('folder.add', { path: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiCallError);
    expect(err).toMatchObject({ code: 'BAD_ARGUMENT', message: 'folder.add: path: too short', details: { field: 'path' } });
  });

  it('passes events through and unsubscribes', () => {
    const bridge = fakeBridge({ ok: true, result: null });
    const seen: ApiEvent[] = [];
    const off = bridgeClient(bridge).subscribe((e) => seen.push(e));
    for (const l of bridge.listeners) l({ type: 'folder.removed', folderId: 'x' });
    off();
    expect(seen).toEqual([{ type: 'folder.removed', folderId: 'x' }]);
    expect(bridge.listeners.size).toBe(0);
  });
});
