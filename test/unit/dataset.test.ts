// Dataset listing: which files count as images, labels at several label levels, deterministic order, hidden
// files and link loops, the trainability checks and their messages, and removing corrupt items.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DatasetError, IMAGE_EXTENSIONS, checkTrainable, scanDataset, summarize, withoutItems } from '../../src/core/dataset';

function makeTree(files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'embedlab-ds-'));
  for (const f of files) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), 'x'); // content does not matter: nothing is decoded here
  }
  return root;
}

const TREE = [
  'cats/a.jpg', 'cats/B.PNG', 'cats/c.webp', 'cats/notes.txt',
  'dogs/x.jpeg', 'dogs/sub/y.gif', // with labelLevel -2, y belongs to "sub"
  'owls/only.tiff',
  '.hidden/h.jpg', 'cats/.DS_Store', 'cats/._a.jpg',
  'Thumbs.db',
];

test('scan with the default labelLevel -2: parent folder, sorted, hidden skipped, others counted', async (t) => {
  const root = makeTree(TREE);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const idx = await scanDataset(root, { labelLevel: -2 });
  assert.equal(idx.root, root);
  assert.deepEqual(idx.items.map((i) => i.rel), ['cats/B.PNG', 'cats/a.jpg', 'cats/c.webp', 'dogs/sub/y.gif', 'dogs/x.jpeg', 'owls/only.tiff']);
  assert.deepEqual(idx.classes, ['cats', 'dogs', 'owls', 'sub']);
  assert.deepEqual(idx.items.map((i) => i.label), ['cats', 'cats', 'cats', 'sub', 'dogs', 'owls']);
  for (const it of idx.items) {
    assert.equal(idx.classes[it.classIndex], it.label);
    assert.equal(it.path, join(root, ...it.rel.split('/')));
  }
  assert.equal(idx.ignored, 2); // notes.txt, Thumbs.db (hidden files are not counted)
  assert.deepEqual(summarize(idx), { root, classes: 4, images: 6, skipped: 0, ignored: 2, classesWithPositives: 1 });
  checkTrainable(idx, 'quartet'); // 4 classes, one with positives: fine
});

test('labelLevel 1 (first folder under the root) and deeper layouts', async (t) => {
  const root = makeTree(['cats/a.jpg', 'dogs/x.jpeg', 'dogs/sub/y.gif', 'dogs/sub/deeper/z.png']);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const idx = await scanDataset(root, { labelLevel: 1 });
  assert.deepEqual(idx.classes, ['cats', 'dogs']);
  assert.deepEqual(summarize(idx).classesWithPositives, 1);
  assert.deepEqual(idx.items.map((i) => i.label), ['cats', 'dogs', 'dogs', 'dogs']);

  const deep = makeTree(['shop1/shoes/sku1/front.jpg', 'shop1/shoes/sku1/side.jpg', 'shop2/shoes/sku2/front.jpg', 'shop2/bags/sku3/a.jpg']);
  t.after(() => rmSync(deep, { recursive: true, force: true }));
  const bySku = await scanDataset(deep, { labelLevel: -2 });
  assert.deepEqual(bySku.classes, ['sku1', 'sku2', 'sku3']);
  const byKind = await scanDataset(deep, { labelLevel: 2 });
  assert.deepEqual(byKind.classes, ['bags', 'shoes']);
  const byView = await scanDataset(deep, { labelLevel: -1 });
  assert.deepEqual(byView.classes, ['a.jpg', 'front.jpg', 'side.jpg']);
  const byShop = await scanDataset(deep, { labelLevel: -4 });
  assert.deepEqual(byShop.classes, ['shop1', 'shop2']);
});

test('a label level outside a path is an error naming an example', async (t) => {
  const root = makeTree(['cats/a.jpg', 'stray.png']);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await assert.rejects(scanDataset(root, { labelLevel: -2 }), (err: unknown) => {
    assert.ok(err instanceof DatasetError);
    assert.equal(err.kind, 'label-level');
    assert.match(err.message, /"stray\.png"/);
    return true;
  });
  await assert.rejects(scanDataset(root, { labelLevel: 3 }), /labelLevel 3 points outside the path of 2 images.*"cats\/a\.jpg"/);
});

test('symlink loops end and linked folders are not listed twice', async (t) => {
  const root = makeTree(['a/1.jpg', 'b/2.jpg']);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  try {
    symlinkSync(root, join(root, 'a', 'loop'), 'dir');
    symlinkSync(join(root, 'b'), join(root, 'c'), 'dir');
  } catch {
    t.skip('symlinks not permitted here');
    return;
  }
  const idx = await scanDataset(root, { labelLevel: 1 });
  assert.deepEqual(idx.items.map((i) => i.rel), ['a/1.jpg', 'b/2.jpg']);
});

test('image extensions cover what sharp reads', () => {
  for (const e of ['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff', '.svg', '.heic', '.heif', '.jp2']) {
    assert.ok(IMAGE_EXTENSIONS.has(e), e);
  }
  assert.ok(!IMAGE_EXTENSIONS.has('.txt'));
});

test('checkTrainable errors name the folder and the problem', async (t) => {
  const expectError = (fn: () => unknown, code: string, ...fragments: RegExp[]) =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof DatasetError, String(err));
      assert.equal(err.kind, code);
      assert.equal(err.exitCode, 2);
      for (const f of fragments) assert.match(err.message, f);
      return true;
    });
  const missing = join(tmpdir(), 'embedlab-surely-missing-folder');
  await assert.rejects(scanDataset(missing, { labelLevel: -2 }), (e: unknown) => e instanceof DatasetError && e.kind === 'missing' && e.exitCode === 2 && e.message.includes(missing));
  expectError(() => checkTrainable({ root: missing, items: [], classes: [], ignored: 0 }, 'triplet'), 'missing', /does not exist/, new RegExp(missing));

  const scan = async (files: string[]) => {
    const root = makeTree(files);
    t.after(() => rmSync(root, { recursive: true, force: true }));
    return scanDataset(root, { labelLevel: -2 });
  };
  const empty = await scan(['cats/readme.md']);
  expectError(() => checkTrainable(empty, 'triplet'), 'empty', /No images in/, new RegExp(empty.root), /1 other file was ignored/);
  const single = await scan(['cats/a.jpg', 'cats/b.jpg']);
  expectError(() => checkTrainable(single, 'contrastive'), 'single-class', /Only one class in/, /"cats" \(2 images\)/);
  const singletons = await scan(['a/1.jpg', 'b/2.jpg', 'c/3.jpg']);
  expectError(() => checkTrainable(singletons, 'triplet'), 'no-positives', /No class in/, /no positive/);

  const two = makeTree(['a/1.jpg', 'a/2.jpg', 'b/3.jpg']);
  t.after(() => rmSync(two, { recursive: true, force: true }));
  const idxTwo = await scanDataset(two, { labelLevel: -2 });
  checkTrainable(idxTwo, 'triplet');
  checkTrainable(idxTwo, 'contrastive');
  expectError(() => checkTrainable(idxTwo, 'quartet'), 'too-few-classes', /at least 3 classes/, /"a", "b"/);
});

test('withoutItems removes items, drops emptied classes and renumbers', async (t) => {
  const root = makeTree(['a/1.jpg', 'a/2.jpg', 'b/3.jpg', 'c/4.jpg', 'c/5.jpg']);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const idx = await scanDataset(root, { labelLevel: -2 });
  const cut = withoutItems(idx, [2, 3, 99]);
  assert.deepEqual(cut.items.map((i) => i.rel), ['a/1.jpg', 'a/2.jpg', 'c/5.jpg']);
  assert.deepEqual(cut.classes, ['a', 'c']);
  assert.deepEqual(cut.items.map((i) => i.classIndex), [0, 0, 1]);
  assert.equal(summarize(cut).skipped, 2);
  assert.equal(idx.items.length, 5, 'the original index is unchanged');
});
