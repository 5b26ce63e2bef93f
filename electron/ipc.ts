/**
 * The main-process side of the Electron transport of core/api. The renderer is treated as
 * untrusted: every call must come from our own window's main frame, showing our own
 * index.html, and name a known command; ApiService then validates the parameters with the
 * schemas of core/api/types.ts, as it does for every transport.
 *
 * The checks are pure functions over plain inputs (`checkSender`, `parseCallMessage`,
 * `handleCall`) so they are unit-tested without Electron; `bindIpc` is the thin part that
 * reads those inputs off Electron's objects. This file imports Electron's types only.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { isCommandName, type ApiErrorShape, type ApiEvent, type CanopyClient, type CommandName } from '../core/api/types.js';
import { ApiCallError } from '../core/api/http-client.js';
import { CanopyError } from '../core/errors/index.js';
import { CALL_CHANNEL, EVENT_CHANNEL, type BridgeReply } from './bridge.js';

/** Same bound as the HTTP transport's request body. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_COMMAND_LENGTH = 64;

/** Who sent an IPC message, as plain data. */
export interface SenderInfo {
  webContentsId: number;
  /** The frame the message came from; null when it was destroyed or navigated away. */
  frame: { url: string; isMainFrame: boolean } | null;
}

/** Who may send: our window's webContents, showing this file URL. */
export interface ExpectedSender {
  webContentsId: number;
  /** The file: URL of the renderer's index.html, as `pathToFileURL` gives it. */
  url: string;
  /** Compare paths case-insensitively (Windows). */
  caseInsensitive?: boolean;
}

export type Check<T> = { ok: true; value: T } | { ok: false; error: ApiErrorShape };

function reject(message: string): { ok: false; error: ApiErrorShape } {
  return { ok: false, error: { code: 'UNAUTHORIZED', message } };
}

function badArgument(message: string): { ok: false; error: ApiErrorShape } {
  return { ok: false, error: { code: 'BAD_ARGUMENT', message } };
}

/** Accepts only our own window's main frame, loaded from our own index.html. */
export function checkSender(sender: SenderInfo, expected: ExpectedSender): Check<true> {
  if (sender.webContentsId !== expected.webContentsId) return reject('IPC from an unknown window');
  if (!sender.frame) return reject('IPC from a frame that no longer exists');
  if (!sender.frame.isMainFrame) return reject('IPC from a subframe');
  if (!sameFileUrl(sender.frame.url, expected.url, expected.caseInsensitive ?? false)) return reject('IPC from an unexpected page');
  return { ok: true, value: true };
}

/** True when `actual` is the file URL `expected`, ignoring any query or fragment. */
export function sameFileUrl(actual: string, expected: string, caseInsensitive = false): boolean {
  let a: URL;
  let e: URL;
  try {
    a = new URL(actual);
    e = new URL(expected);
  } catch {
    return false;
  }
  if (a.protocol !== 'file:' || e.protocol !== 'file:') return false;
  if (a.host !== e.host) return false;
  let ap: string;
  let ep: string;
  try {
    ap = decodeURIComponent(a.pathname);
    ep = decodeURIComponent(e.pathname);
  } catch {
    return false;
  }
  return caseInsensitive ? ap.toLowerCase() === ep.toLowerCase() : ap === ep;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Checks the shape of a call message: `{ command, params? }`, a known command name, params
 * a plain object (its fields are ApiService's business), and not absurdly large.
 */
export function parseCallMessage(raw: unknown): Check<{ command: CommandName; params: Record<string, unknown> }> {
  if (!isPlainObject(raw)) return badArgument('a call must be an object { command, params }');
  for (const key of Object.keys(raw)) {
    if (key !== 'command' && key !== 'params') return badArgument(`unexpected field "${key}" in a call`);
  }
  const { command, params } = raw;
  if (typeof command !== 'string' || command.length === 0 || command.length > MAX_COMMAND_LENGTH) return badArgument('a call needs a command name');
  if (!isCommandName(command)) return badArgument(`unknown command "${command}"`);
  if (params !== undefined && !isPlainObject(params)) return badArgument(`${command}: params must be an object`);
  let size: number;
  try {
    size = JSON.stringify(params ?? {}).length;
  } catch {
    return badArgument(`${command}: params are not plain data`);
  }
  if (size > MAX_MESSAGE_BYTES) return badArgument(`${command}: params are too large`);
  return { ok: true, value: { command, params: params ?? {} } };
}

/**
 * Any error as the API's `{ code, message }`: a CanopyError, or an ApiCallError relayed from
 * the engine thread, keeps its code; anything else is a bug and is logged.
 */
export function toErrorShape(err: unknown, log: (...args: unknown[]) => void = console.error): ApiErrorShape {
  if (err instanceof CanopyError) return err.toJSON();
  if (err instanceof ApiCallError) return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
  log('canopy: internal error in an API call:', err);
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Our windows (the main window, the tray popover): the one the sender claims to be, checked like a single one. */
export type ExpectedSenders = ExpectedSender | readonly ExpectedSender[];

function matchingSender(sender: SenderInfo, expected: ExpectedSenders): ExpectedSender | null {
  const list: readonly ExpectedSender[] = Array.isArray(expected) ? expected : [expected as ExpectedSender];
  return list.find((e) => e.webContentsId === sender.webContentsId) ?? null;
}

/** Checks one IPC call and runs it; never throws, always answers with an envelope. */
export async function handleCall(api: CanopyClient, sender: SenderInfo, expected: ExpectedSenders, raw: unknown): Promise<BridgeReply> {
  const mine = matchingSender(sender, expected);
  if (!mine) return reject('IPC from an unknown window');
  const who = checkSender(sender, mine);
  if (!who.ok) return who;
  const msg = parseCallMessage(raw);
  if (!msg.ok) return msg;
  try {
    const result = await api.call(msg.value.command, msg.value.params as never);
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: toErrorShape(err) };
  }
}

/** Reads the sender facts off an Electron invoke event. */
export function senderInfo(event: Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>): SenderInfo {
  const frame = event.senderFrame;
  let info: SenderInfo['frame'] = null;
  if (frame && !frame.detached) {
    const main = event.sender.mainFrame;
    info = { url: frame.url, isMainFrame: frame.parent === null && frame.frameTreeNodeId === main.frameTreeNodeId };
  }
  return { webContentsId: event.sender.id, frame: info };
}

export interface IpcBinding {
  /** Removes the handler and stops forwarding events. */
  dispose(): void;
}

type EventTarget = Pick<WebContents, 'send' | 'isDestroyed'>;

/**
 * Serves `CALL_CHANNEL` for our windows (the main one and the tray popover) and forwards
 * every API event to each. `expected` and `target` are read on each call so recreated
 * windows can be swapped in.
 */
export function bindIpc(opts: {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>;
  api: CanopyClient;
  expected: () => ExpectedSenders | null;
  target: () => EventTarget | readonly EventTarget[] | null;
}): IpcBinding {
  opts.ipcMain.handle(CALL_CHANNEL, (event, raw: unknown) => {
    const expected = opts.expected();
    if (!expected || (Array.isArray(expected) && expected.length === 0)) return reject('no window is open');
    return handleCall(opts.api, senderInfo(event), expected, raw);
  });
  const unsubscribe = opts.api.subscribe((event: ApiEvent) => {
    const targets = opts.target();
    const list: readonly EventTarget[] = targets === null ? [] : Array.isArray(targets) ? targets : [targets as EventTarget];
    for (const contents of list) if (!contents.isDestroyed()) contents.send(EVENT_CHANNEL, event);
  });
  return {
    dispose() {
      opts.ipcMain.removeHandler(CALL_CHANNEL);
      unsubscribe();
    },
  };
}
