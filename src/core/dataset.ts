// Lists a folder of images with one subfolder per class: which files are images, which class each belongs to
// (data.labelLevel picks the path component), and whether the result can train the chosen loss. Decoding is not
// done here: the engine decodes later and drops corrupt files with `withoutItems`.
// The order is deterministic (sorted by relative path, classes sorted by name, both by code point), so the same
// folder gives the same item indices, and therefore the same sampled tuples for a seed, on every machine.

import { existsSync, promises as fsp, statSync } from 'node:fs';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { DatasetSummary, LossType } from '../protocol/events';
import { LabError } from './errors';

/**
 * File extensions (lower case, with the dot) treated as images: every format sharp can read, including those that
 * need a libvips built with the optional codecs (HEIC, JPEG 2000, JPEG XL, FITS, PPM…). A file sharp cannot decode
 * after all is dropped later as corrupt. Anything else is ignored and counted.
 */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg', '.jpeg', '.jpe', '.jfif', // JPEG
  '.png',
  '.webp',
  '.gif',
  '.avif',
  '.tif', '.tiff',
  '.svg', '.svgz',
  '.heic', '.heif', '.hif',
  '.jp2', '.j2k', '.j2c', '.jpx', '.jpf', // JPEG 2000
  '.jxl', // JPEG XL
  '.ppm', '.pgm', '.pbm', '.pnm', '.pfm', // Netpbm
  '.fits', '.fit', '.fts',
  '.vips', // libvips native format
]);

/** True when the file name has an image extension (case-insensitive; also `.svg.gz`). */
export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.has(extname(lower)) || lower.endsWith('.svg.gz');
}

export interface DatasetItem {
  /** Absolute path. */
  path: string;
  /** Path relative to the data root, with '/' separators. */
  rel: string;
  label: string;
  classIndex: number;
}

export interface DatasetIndex {
  /** Absolute path of the data root. */
  root: string;
  /** Images, sorted by `rel`. */
  items: DatasetItem[];
  /** Class labels, sorted; `classIndex` indexes this list. */
  classes: string[];
  /** Non-image files found (hidden files are not counted). */
  ignored: number;
  /** Images removed as corrupt or unreadable by `withoutItems` (0 or absent for a fresh scan). */
  skipped?: number;
  /** Symbolic links (paths relative to the root) that point outside the root: not followed (see walkImages). */
  outsideLinks?: string[];
}

export type DatasetErrorCode = 'missing' | 'empty' | 'single-class' | 'no-positives' | 'too-few-classes' | 'label-level';

/** A data folder that cannot be used. The CLI exits with `exitCode`. */
export class DatasetError extends LabError {
  constructor(
    /** What is wrong with the folder (the error's `code` is 'bad-data'). */
    readonly kind: DatasetErrorCode,
    message: string,
  ) {
    super('bad-data', message);
  }
}

/** The class label of a path (relative to the root, split into components) for a label level, or undefined. */
export function labelOf(parts: readonly string[], labelLevel: number): string | undefined {
  if (!Number.isInteger(labelLevel) || labelLevel === 0) return undefined;
  const i = labelLevel < 0 ? parts.length + labelLevel : labelLevel - 1;
  return i >= 0 && i < parts.length ? parts[i] : undefined;
}

const byCodePoint = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

export interface ImageWalk {
  /** Image files, relative to the root with '/' separators, sorted by code point. */
  files: string[];
  /** Non-image files (hidden ones are not counted). */
  ignored: number;
  /** Symbolic links, relative to the root, whose target lies outside the root: not followed. */
  outsideLinks: string[];
}

/**
 * The one folder walker of training and embedding: the image files under `root`, recursively. Hidden files and
 * folders (names starting with '.') are skipped. Symbolic links are followed when their target lies inside the
 * root (every real folder is read once, so link loops end and a linked folder is not listed twice); a link whose
 * target lies outside the root is not followed but reported in `outsideLinks`; a dangling link is skipped. An
 * unreadable folder lists nothing. `root` must be a folder (the callers check).
 */
export async function walkImages(root: string): Promise<ImageWalk> {
  const absRoot = resolve(root);
  const realRoot = await fsp.realpath(absRoot);
  const inside = (real: string): boolean => {
    const r = relative(realRoot, real);
    return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r)); // isAbsolute: another drive
  };
  const files: string[] = [];
  const outsideLinks: string[] = [];
  let ignored = 0;
  const seenDirs = new Set<string>();

  // Depth-first in sorted order (sequential, so that which link to a shared folder wins is deterministic).
  const walk = async (dir: string, relDir: string): Promise<void> => {
    const real = await fsp.realpath(dir).catch(() => undefined);
    if (real === undefined || seenDirs.has(real)) return;
    seenDirs.add(real);
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch {
      return; // unreadable folder: nothing to list
    }
    entries.sort((x, y) => byCodePoint(x.name, y.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const abs = join(dir, e.name);
      const rel = relDir === '' ? e.name : `${relDir}/${e.name}`;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const target = await fsp.realpath(abs).catch(() => undefined); // a dangling link is skipped
        if (target === undefined) continue;
        if (!inside(target)) { outsideLinks.push(rel); continue; }
        const st = await fsp.stat(abs).catch(() => undefined);
        isDir = st?.isDirectory() ?? false;
        isFile = st?.isFile() ?? false;
      }
      if (isDir) await walk(abs, rel);
      else if (isFile) {
        if (isImageFile(e.name)) files.push(rel);
        else ignored++;
      }
    }
  };
  await walk(absRoot, '');
  files.sort(byCodePoint);
  return { files, ignored, outsideLinks };
}

/**
 * Lists the images under `root` (walkImages: links inside the root are followed, those outside reported in
 * `outsideLinks`) and labels them. Throws DatasetError 'missing' when `root` is not a folder, and 'label-level'
 * when the label level points outside some image's path (the message names one such path).
 */
export async function scanDataset(root: string, opts: { labelLevel: number }): Promise<DatasetIndex> {
  const absRoot = resolve(root);
  if (!Number.isInteger(opts.labelLevel) || opts.labelLevel === 0) {
    throw new DatasetError('label-level', `labelLevel must be a non-zero integer (got ${opts.labelLevel})`);
  }
  let rootStat;
  try {
    rootStat = await fsp.stat(absRoot);
  } catch {
    throw new DatasetError('missing', `Data folder ${absRoot} does not exist`);
  }
  if (!rootStat.isDirectory()) throw new DatasetError('missing', `Data folder ${absRoot} is not a folder`);

  const { files, ignored, outsideLinks } = await walkImages(absRoot);

  const labels: string[] = [];
  let bad: string | undefined;
  let badCount = 0;
  for (const rel of files) {
    const label = labelOf(rel.split('/'), opts.labelLevel);
    if (label === undefined) {
      bad ??= rel;
      badCount++;
    }
    labels.push(label ?? '');
  }
  if (bad !== undefined) {
    throw new DatasetError(
      'label-level',
      `labelLevel ${opts.labelLevel} points outside the path of ${badCount} image${badCount === 1 ? '' : 's'} in ${absRoot}, ` +
        `e.g. "${bad}" (${bad.split('/').length} component${bad.split('/').length === 1 ? '' : 's'} below the root). ` +
        `Use -2 for the parent folder or 1 for the first folder under the root, and keep every image inside a class folder.`,
    );
  }
  const classes = [...new Set(labels)].sort(byCodePoint);
  const indexOf = new Map(classes.map((c, i) => [c, i]));
  const items = files.map((rel, i) => ({
    path: join(absRoot, ...rel.split('/')),
    rel,
    label: labels[i],
    classIndex: indexOf.get(labels[i]) as number,
  }));
  return { root: absRoot, items, classes, ignored, ...(outsideLinks.length ? { outsideLinks } : {}) };
}

/** Counts for reports and the `started` event. */
export function summarize(index: DatasetIndex): DatasetSummary {
  const counts = classCounts(index);
  return {
    root: index.root,
    classes: index.classes.length,
    images: index.items.length,
    skipped: index.skipped ?? 0,
    ignored: index.ignored,
    classesWithPositives: counts.filter((n) => n >= 2).length,
  };
}

/** Images per class, indexed like `index.classes`. */
export function classCounts(index: DatasetIndex): number[] {
  const counts = new Array<number>(index.classes.length).fill(0);
  for (const it of index.items) counts[it.classIndex]++;
  return counts;
}

/**
 * Checks that the folder can train `lossType`; throws DatasetError naming the folder and the problem:
 * 'missing' (no such folder), 'empty' (no images), 'single-class' (fewer than 2 classes), 'no-positives' (no class
 * has 2 images), 'too-few-classes' (quartet with fewer than 3 classes).
 */
export function checkTrainable(index: DatasetIndex, lossType: LossType): void {
  const root = index.root;
  let isDir: boolean;
  try {
    isDir = existsSync(root) && statSync(root).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new DatasetError('missing', `Data folder ${root} does not exist`);
  if (index.items.length === 0) {
    const other = index.ignored > 0 ? `; ${index.ignored} other file${index.ignored === 1 ? ' was' : 's were'} ignored` : '';
    throw new DatasetError(
      'empty',
      `No images in ${root} (looked for ${[...IMAGE_EXTENSIONS].slice(0, 8).join(', ')}… in one subfolder per class${other})`,
    );
  }
  const counts = classCounts(index);
  if (index.classes.length < 2) {
    throw new DatasetError(
      'single-class',
      `Only one class in ${root}: "${index.classes[0]}" (${index.items.length} image${index.items.length === 1 ? '' : 's'}). ` +
        `A ${lossType} model needs at least 2 classes: put each class in its own subfolder, or check data.labelLevel.`,
    );
  }
  const withPositives = counts.filter((n) => n >= 2).length;
  if (withPositives === 0) {
    throw new DatasetError(
      'no-positives',
      `No class in ${root} has 2 or more images (${index.classes.length} classes of 1 image each), so no positive ` +
        `(same-class) pair can be formed: add images, or check data.labelLevel.`,
    );
  }
  if (lossType === 'quartet' && index.classes.length < 3) {
    throw new DatasetError(
      'too-few-classes',
      `The quartet loss needs at least 3 classes (anchor and positive from one, the two negatives from two others), ` +
        `but ${root} has ${index.classes.length}: ${index.classes.map((c) => `"${c}"`).join(', ')}.`,
    );
  }
}

/**
 * A copy of `index` without the items at `badIndices` (e.g. images the decoder found corrupt), with classes left
 * empty removed and class indices renumbered; `skipped` grows by the number removed.
 */
export function withoutItems(index: DatasetIndex, badIndices: Iterable<number>): DatasetIndex {
  const bad = new Set<number>();
  for (const i of badIndices) if (Number.isInteger(i) && i >= 0 && i < index.items.length) bad.add(i);
  const kept = index.items.filter((_, i) => !bad.has(i));
  const classes = [...new Set(kept.map((it) => it.label))].sort(byCodePoint);
  const indexOf = new Map(classes.map((c, i) => [c, i]));
  return {
    root: index.root,
    items: kept.map((it) => ({ ...it, classIndex: indexOf.get(it.label) as number })),
    classes,
    ignored: index.ignored,
    skipped: (index.skipped ?? 0) + bad.size,
    ...(index.outsideLinks ? { outsideLinks: index.outsideLinks } : {}),
  };
}
