// One folder walker for training (scanDataset) and embedding (listImages): the same folder gives the same images
// and the same classes to both. Links inside the root are followed; links outside it are not, and are reported.
// (train followed every link, also outside the root, and embed none to folders: 13 images in 5 classes against 9.)
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { scanDataset, walkImages } from '../../src/core/dataset';
import { listImages } from '../../src/engine/embed';

function put(root: string, files: string[]): void {
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), 'x');
  }
}

test('train and embed list the same images: links inside the root followed, links outside reported', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'elab-walk-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'data');
  const outside = join(base, 'elsewhere');
  put(root, ['a/1.png', 'a/2.png', 'a/3.png', 'b/1.png', 'b/2.png', 'b/notes.txt', '.stash/s1.png', '.stash/s2.png']);
  put(outside, ['x/1.png', 'x/2.png', 'y/1.png', 'z.png']);
  try {
    symlinkSync(join(root, '.stash'), join(root, 'c'), 'dir'); // inside (a hidden folder): followed, class "c"
    symlinkSync(join(root, 'a'), join(root, 'a-again'), 'dir'); // inside, already listed: not listed twice
    symlinkSync(join(root, 'a', '1.png'), join(root, 'b', 'from-a.png')); // a file inside: followed
    symlinkSync(join(outside, 'x'), join(root, 'x'), 'dir'); // outside: not followed, reported
    symlinkSync(outside, join(root, 'b', 'more'), 'dir'); // outside: not followed, reported
    symlinkSync(join(outside, 'z.png'), join(root, 'a', 'z.png')); // a file outside: not followed, reported
    symlinkSync(join(base, 'nowhere'), join(root, 'a', 'dangling.png')); // dangling: skipped
  } catch {
    t.skip('symlinks not permitted here');
    return;
  }
  const expected = ['a/1.png', 'a/2.png', 'a/3.png', 'b/1.png', 'b/2.png', 'b/from-a.png', 'c/s1.png', 'c/s2.png'];
  const outsideLinks = ['a/z.png', 'b/more', 'x'];

  const walk = await walkImages(root);
  assert.deepEqual(walk.files, expected);
  assert.deepEqual(walk.outsideLinks, outsideLinks);
  assert.equal(walk.ignored, 1);

  const train = await scanDataset(root, { labelLevel: -2 });
  assert.deepEqual(train.items.map((i) => i.rel), expected);
  assert.deepEqual(train.classes, ['a', 'b', 'c']);
  assert.deepEqual(train.outsideLinks, outsideLinks);

  const embed = await listImages(root, -2);
  assert.deepEqual(embed.images.map((i) => i.rel), expected);
  assert.deepEqual(embed.images.map((i) => i.label), train.items.map((i) => i.label));
  assert.deepEqual(embed.images.map((i) => i.path), train.items.map((i) => i.path));
  assert.deepEqual(embed.outsideLinks, outsideLinks);
  assert.equal(embed.ignored, train.ignored);
});

test('a root that is itself a link is walked; its inside is judged by its real path', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'elab-walk-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  put(join(base, 'real'), ['k/1.png', 'k/2.png', 'm/1.png']);
  try {
    symlinkSync(join(base, 'real'), join(base, 'alias'), 'dir');
    symlinkSync(join(base, 'real', 'k'), join(base, 'real', 'm', 'k-link'), 'dir');
  } catch {
    t.skip('symlinks not permitted here');
    return;
  }
  const w = await walkImages(join(base, 'alias'));
  assert.deepEqual(w.files, ['k/1.png', 'k/2.png', 'm/1.png']); // k-link points at k, already read
  assert.deepEqual(w.outsideLinks, []);
});
