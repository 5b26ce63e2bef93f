import { describe, expect, it } from 'vitest';
import { pathFromDrop, pathFromFileUri, type DropData } from './drop.js';

function data(items: Record<string, string>, files: File[] = []): DropData {
  return { files, getData: (f) => items[f] ?? '' };
}

describe('pathFromFileUri', () => {
  it('decodes file URIs to paths', () => {
    expect(pathFromFileUri('file:///home/me/My%20Docs')).toBe('/home/me/My Docs');
    expect(pathFromFileUri('file:///home/me/docs/')).toBe('/home/me/docs');
    expect(pathFromFileUri('file:///C:/Users/me')).toBe('C:/Users/me');
    expect(pathFromFileUri('file://server/share/x')).toBe('//server/share/x');
  });

  it('refuses anything else', () => {
    expect(pathFromFileUri('https://example.com/x')).toBeNull();
    expect(pathFromFileUri('not a uri')).toBeNull();
    expect(pathFromFileUri('file:///bad%E0%A4%A')).toBeNull();
  });
});

describe('pathFromDrop', () => {
  const file = new File(['x'], 'Photos');

  it('takes the desktop bridge path of a dropped folder first', () => {
    expect(pathFromDrop(data({ 'text/uri-list': 'file:///elsewhere' }, [file]), () => '/home/me/Photos')).toEqual({ ok: true, path: '/home/me/Photos' });
  });

  it('reads a file manager URI list, skipping comments', () => {
    expect(pathFromDrop(data({ 'text/uri-list': '# from nautilus\r\nfile:///srv/data\r\n' }))).toEqual({ ok: true, path: '/srv/data' });
  });

  it('reads a dragged absolute path or file URI as text', () => {
    expect(pathFromDrop(data({ 'text/plain': ' /srv/data ' }))).toEqual({ ok: true, path: '/srv/data' });
    expect(pathFromDrop(data({ 'text/plain': 'file:///srv/x' }))).toEqual({ ok: true, path: '/srv/x' });
    expect(pathFromDrop(data({ 'text/plain': 'C:\\Users\\me' }))).toEqual({ ok: true, path: 'C:\\Users\\me' });
  });

  it('says why when the browser hides the path, or the drop is no folder', () => {
    expect(pathFromDrop(data({}, [file]))).toEqual({ ok: false, message: 'The browser does not say where “Photos” lives. Type its full path instead.' });
    expect(pathFromDrop(data({ 'text/plain': 'relative/path' }))).toMatchObject({ ok: false });
    expect(pathFromDrop(data({ 'text/plain': '/a\n/b' }))).toMatchObject({ ok: false });
    // A bridge that knows no path (a File made by the page) falls through to the text.
    expect(pathFromDrop(data({ 'text/plain': '/srv/y' }, [file]), () => '')).toEqual({ ok: true, path: '/srv/y' });
  });
});
