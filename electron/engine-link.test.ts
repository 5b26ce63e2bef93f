/**
 * The engine thread of the desktop app: the link's protocol over a MessageChannel, then
 * the real thing (the built engine-thread.js hosting a real home on a worker thread, on a
 * local testnet) answering calls and sending events, and closing cleanly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError } from '../core/api/http-client.js';
import type { ApiEvent, CanopyClient, CommandName } from '../core/api/types.js';
import { CanopyError } from '../core/errors/index.js';
import { REPO, runCli, startTestnetProcess, tmpDir, waitFor, type TestnetProcess } from '../core/testing/index.js';
import { LinkClient, serveApi, startEngineThread, type FromEngine, type PortLike, type ToEngine } from './engine-link.js';

describe('the link', () => {
  function linked(api: CanopyClient, stop: () => Promise<void> = async () => undefined) {
    const { port1, port2 } = new MessageChannel();
    serveApi(api, port1 as unknown as PortLike<ToEngine, FromEngine>, stop);
    const client = new LinkClient(port2 as unknown as PortLike<FromEngine, ToEngine>);
    return { client, close: () => (port1.close(), port2.close()) };
  }
  const listeners = new Set<(e: ApiEvent) => void>();
  const api: CanopyClient = {
    async call(command: CommandName, params: unknown) {
      if (command === 'folder.remove') throw new CanopyError('NOT_FOUND', 'no folder "x"');
      return { command, params } as never;
    },
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };

  it('carries calls, results, errors with their code, and events', async () => {
    const { client, close } = linked(api);
    await client.ready;
    await expect(client.call('ls', { target: 'docs' })).resolves.toEqual({ command: 'ls', params: { target: 'docs' } });
    await expect(client.call('folder.remove', { id: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'no folder "x"' });
    const got: ApiEvent[] = [];
    client.subscribe((e) => got.push(e));
    for (const l of listeners) l({ type: 'folder.removed', folderId: 'x' });
    await waitFor(() => got.length === 1, 'the event');
    expect(got).toEqual([{ type: 'folder.removed', folderId: 'x' }]);
    close();
  });

  it('stops the engine on request, then refuses calls saying why', async () => {
    let stopped = false;
    const { client, close } = linked(api, async () => {
      stopped = true;
    });
    await client.ready;
    await client.stop();
    expect(stopped).toBe(true);
    await expect(client.call('status', {})).rejects.toBeInstanceOf(ApiCallError);
    await expect(client.call('status', {})).rejects.toMatchObject({ code: 'ENGINE_STOPPED' });
    close();
  });

  it('fails waiting calls when the engine goes away', async () => {
    const { port2 } = new MessageChannel();
    const client = new LinkClient(port2 as unknown as PortLike<FromEngine, ToEngine>);
    const waiting = client.call('status', {});
    client.end('the engine thread exited (code 1)');
    await expect(waiting).rejects.toMatchObject({ code: 'ENGINE_STOPPED', message: "Canopy's engine is not running: the engine thread exited (code 1)" });
    port2.close();
  });
});

const script = path.join(REPO, 'dist', 'electron', 'engine-thread.js');

describe.skipIf(!fs.existsSync(script))('the engine thread hosting a real device', () => {
  let base: string;
  let testnet: TestnetProcess;
  beforeAll(async () => {
    base = tmpDir('canopy-engine-thread-');
    testnet = await startTestnetProcess();
  }, 60_000);
  afterAll(async () => {
    await testnet?.stop();
    if (base) fs.rmSync(base, { recursive: true, force: true });
  });

  it('says why when the home cannot be opened', async () => {
    const missing = path.join(base, 'never-created');
    await expect(startEngineThread({ home: missing, bootstrap: [testnet.bootstrap] }, { log: () => undefined, script })).rejects.toMatchObject({ code: 'ENGINE_FAILED', message: expect.stringContaining(missing) });
  });

  it('answers the API, sends events and closes cleanly', async () => {
    const home = path.join(base, 'home');
    const folder = path.join(base, 'files');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'a.txt'), 'hello');
    expect((await runCli(['init', '--name', 'desk'], { home })).code).toBe(0);
    const lines: string[] = [];
    const thread = await startEngineThread({ home, bootstrap: [testnet.bootstrap] }, { log: (l) => lines.push(l), script });
    try {
      const events: ApiEvent[] = [];
      thread.client.subscribe((e) => events.push(e));
      expect((await thread.client.call('status', {})).device.name).toBe('desk');
      await thread.client.call('folder.add', { path: folder, id: 'docs' });
      await waitFor(async () => (await thread.client.call('ls', { target: 'docs' })).some((e) => e.path === 'a.txt'), 'a.txt to be indexed');
      await waitFor(() => events.some((e) => e.type === 'folder.added'), 'the folder.added event');
      await expect(thread.client.call('folder.remove', { id: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      await thread.stop();
    }
    await expect(thread.client.call('status', {})).rejects.toMatchObject({ code: 'ENGINE_STOPPED' });
    // Closed cleanly: the home opens again.
    const again = await startEngineThread({ home, bootstrap: [testnet.bootstrap] }, { log: () => undefined, script });
    await again.stop();
  });
});
