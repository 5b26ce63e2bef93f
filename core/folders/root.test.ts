import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { tmpDir } from '../testing/index.js';

let base: string;
let engine: Engine;

beforeEach(() => {
  base = tmpDir('canopy-folders-root-');
  engine = Engine.init(path.join(base, 'home'), { name: 'test' });
});

afterEach(async () => {
  await engine.close();
  fs.rmSync(base, { recursive: true, force: true });
});

describe('Folders.root', () => {
  it('is the attached path, as get() says, and undefined once detached or for an unknown folder', () => {
    const dir = path.join(base, 'docs');
    fs.mkdirSync(dir);
    const added = engine.folders.add({ path: dir, id: 'docs' });
    expect(engine.folders.root('docs')).toBe(added.local?.path);
    expect(engine.folders.root('docs')).toBe(fs.realpathSync(dir));
    expect(engine.folders.root('nope')).toBeUndefined();
    engine.folders.remove('docs');
    expect(engine.folders.get('docs')?.local).toBeNull();
    expect(engine.folders.root('docs')).toBeUndefined();
  });
});
