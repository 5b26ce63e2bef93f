/**
 * The preload bridge of the desktop window: exposes exactly `window.canopy = { call,
 * subscribe, getPathForFile }` (see bridge.ts) and nothing else: no generic invoke or
 * send, and no Electron object (an IpcRendererEvent carries `sender`) ever reaches the page.
 *
 * A sandboxed preload runs as CommonJS and may require only 'electron' (and a few Node
 * built-ins), so this file is a .cts that tsc emits as dist/electron/preload.cjs, imports
 * nothing at run time but 'electron', and repeats the channel names of bridge.ts
 * (preload.test.ts checks they match).
 */
import electron = require('electron');
import type { ApiEvent } from '../core/api/types.js';
import type { BridgeReply, CanopyBridge } from './bridge.js';

const CALL_CHANNEL = 'canopy:call';
const EVENT_CHANNEL = 'canopy:event';

type Ipc = Pick<electron.IpcRenderer, 'invoke' | 'on' | 'removeListener'>;
type WebUtils = Pick<electron.WebUtils, 'getPathForFile'>;

function createBridge(ipc: Ipc, webUtils: WebUtils): CanopyBridge {
  return {
    call(command, params) {
      if (typeof command !== 'string') return Promise.reject(new TypeError('command must be a string'));
      return ipc.invoke(CALL_CHANNEL, { command, params }) as Promise<BridgeReply<never>>;
    },
    subscribe(listener) {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      const handler = (_event: electron.IpcRendererEvent, payload: ApiEvent): void => listener(payload);
      ipc.on(EVENT_CHANNEL, handler);
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        ipc.removeListener(EVENT_CHANNEL, handler);
      };
    },
    getPathForFile(file) {
      return webUtils.getPathForFile(file);
    },
  };
}

electron.contextBridge.exposeInMainWorld('canopy', createBridge(electron.ipcRenderer, electron.webUtils));
