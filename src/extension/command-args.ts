// What a command was called with: an editor context, an options object, the Explorer's selection, knn hits
// (pure: tested without VS Code).
import * as path from 'node:path';

/**
 * The context object VS Code passes after the resource for editor-title menus (`{ groupId, editorIndex }`): a plain
 * object, but not options of ours.
 */
export function isEditorContext(a: unknown): boolean {
  return a !== null && typeof a === 'object' && typeof (a as { groupId?: unknown }).groupId === 'number';
}

/**
 * An options object passed by code (tests, other extensions, our own internal calls): a plain object. Not a Uri,
 * a tree item, the `selectedUris[]` array VS Code passes for an Explorer menu, nor an editor-title context.
 */
export function isOptionsObject(a: unknown): a is Record<string, unknown> {
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return false;
  const proto = Object.getPrototypeOf(a) as unknown;
  return (proto === Object.prototype || proto === null) && !isEditorContext(a);
}

/** Options objects or strings passed by code rather than by a menu (which passes a Uri or tree item, and an array). */
export function isProgrammaticCall(args: readonly unknown[]): boolean {
  return args.some((a) => typeof a === 'string' || isOptionsObject(a));
}

/**
 * The resources an Explorer menu command acts on. VS Code passes `(clicked, selected[])`: with several items
 * selected and the click on one of them, every selected item (the clicked one first); a click outside the selection
 * acts on the clicked item alone.
 */
export function menuSelection(clicked: string | undefined, selected: readonly string[] | undefined): string[] {
  const sel = (selected ?? []).filter((p) => typeof p === 'string' && p);
  if (clicked === undefined) return [...new Set(sel)];
  if (!sel.includes(clicked)) return [clicked];
  return [...new Set([clicked, ...sel])];
}

export interface KnnHit {
  rank: number;
  path: string;
  label: string;
  distance: number;
}

/**
 * The neighbours of a query without the query itself (as `eval`'s leave-one-out does): drops the row whose path is
 * the query's path in the table, keeps at most k, and ranks them again from 1.
 */
export function withoutQuery<T extends KnnHit>(hits: readonly T[], queryInTable: string | undefined, k: number): T[] {
  const q = queryInTable?.split(path.sep).join('/');
  return hits.filter((h) => q === undefined || h.path !== q).slice(0, k).map((h, i) => ({ ...h, rank: i + 1 }));
}
