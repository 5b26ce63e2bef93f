/**
 * Where a dropped folder lives. In the desktop app the preload bridge turns the dropped
 * File into its path (Electron's webUtils.getPathForFile). A browser never reveals the path
 * of a dropped file, so there the drop is read as text: a `file://` URI (what file managers
 * put in `text/uri-list`) or an absolute path (`text/plain`, e.g. dragged from a terminal).
 * When neither is there, the user types the path into the field instead.
 */

/** The part of a DataTransfer this needs (so tests can hand in plain objects). */
export interface DropData {
  files: ArrayLike<File>;
  getData(format: string): string;
}

export type DropResult = { ok: true; path: string } | { ok: false; message: string };

/** file:///home/me/My%20Docs -> /home/me/My Docs; file:///C:/x -> C:/x. Null for anything else. */
export function pathFromFileUri(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'file:') return null;
  let p: string;
  try {
    p = decodeURIComponent(url.pathname);
  } catch {
    return null;
  }
  if (/^\/[A-Za-z]:\//.test(p)) p = p.slice(1);
  if (url.host !== '') p = `//${url.host}${p}`;
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

function looksAbsolute(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
}

export function pathFromDrop(data: DropData, pathForFile?: (file: File) => string): DropResult {
  const file = data.files[0];
  if (file && pathForFile) {
    const p = pathForFile(file);
    if (p) return { ok: true, path: p };
  }
  const uris = data.getData('text/uri-list').split(/\r?\n/).filter((l) => l !== '' && !l.startsWith('#'));
  for (const uri of uris) {
    const p = pathFromFileUri(uri);
    if (p) return { ok: true, path: p };
  }
  const text = data.getData('text/plain').trim();
  if (text !== '' && !text.includes('\n')) {
    const asUri = pathFromFileUri(text);
    if (asUri) return { ok: true, path: asUri };
    if (looksAbsolute(text)) return { ok: true, path: text };
  }
  if (file) return { ok: false, message: `The browser does not say where “${file.name}” lives. Type its full path instead.` };
  return { ok: false, message: 'That was not a folder. Drop a folder, or type its full path.' };
}
