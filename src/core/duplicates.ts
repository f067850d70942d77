// Near-duplicate groups (issue 16, item 5): the connected components of the graph whose edges are the pairs of rows
// closer than a threshold (d < t), exact, in bounded memory. No edge list is kept: each pair found below t is
// merged into a union-find at once. The pairs come from core/knn.ts's exact blocked kNN: a leave-one-out pass with
// k neighbours, then, for the rows whose k-th neighbour is still below t (they may have more), passes with k doubled
// over just those rows, a block of queries at a time, until every row's last neighbour is at or above t (or k
// reaches n − 1). Every row then has seen all of its neighbours below t, so every edge is found.
// Memory: knn's own (the kernel's copy of the vectors, its top-k state per block of queries), the union-find (8
// bytes a row) and the list of rows still open; never an n×n matrix or the list of pairs.
import type { DistanceName } from './config-types';
import { knn, knnLeaveOneOut, leaveOneOutBytesPerQuery, KNN_DEFAULT_MEMORY_BYTES, type KnnOptions } from './knn';

export interface DuplicateOptions extends Pick<KnnOptions, 'memoryBytes' | 'blockRows' | 'kernel'> {
  /** Neighbours in the first pass. Default 8. */
  k?: number;
}

export interface DuplicateResult {
  /** Groups of at least two rows, largest first (ties: by first row); rows ascending within a group. */
  groups: number[][];
  /** Rows that needed more than the first pass's neighbours. */
  widened: number;
}

class UnionFind {
  readonly parent: Int32Array;
  readonly rank: Uint8Array;
  constructor(n: number) { this.parent = Int32Array.from({ length: n }, (_, i) => i); this.rank = new Uint8Array(n); }
  find(x: number): number {
    const p = this.parent;
    while (p[x] !== x) { p[x] = p[p[x]]; x = p[x]; }
    return x;
  }
  union(a: number, b: number): void {
    let ra = this.find(a); let rb = this.find(b);
    if (ra === rb) return;
    if (this.rank[ra] < this.rank[rb]) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    if (this.rank[ra] === this.rank[rb]) this.rank[ra]++;
  }
}

/** Groups of rows whose pairwise links (distance < threshold) connect them. */
export function duplicateGroups(vectors: Float32Array, n: number, dim: number, threshold: number, distance: DistanceName, opts: DuplicateOptions = {}): DuplicateResult {
  if (!(threshold >= 0)) throw new RangeError(`duplicates: the threshold must be ≥ 0 (got ${threshold})`);
  const uf = new UnionFind(n);
  let open: number[] = [];
  let k = Math.max(1, Math.min(Math.floor(opts.k ?? 8), n - 1));
  if (n < 2) return { groups: [], widened: 0 };
  knnLeaveOneOut(vectors, n, dim, k, distance, opts, (rows, indices, distances, kk) => {
    for (let t = 0; t < rows.length; t++) {
      const i = rows[t];
      for (let r = 0; r < kk; r++) {
        if (!(distances[t * kk + r] < threshold)) break;
        uf.union(i, indices[t * kk + r]);
      }
      if (distances[t * kk + kk - 1] < threshold) open.push(i);
    }
  });
  const widenedRows = new Set<number>(open);
  const budget = opts.memoryBytes ?? KNN_DEFAULT_MEMORY_BYTES;
  while (open.length && k < n - 1) {
    k = Math.min(2 * k, n - 1);
    const want = Math.min(k + 1, n); // the row itself is among its own neighbours
    // Queries per call: their copies (dim·12 bytes) and top-k state within a quarter of the budget.
    const perQuery = dim * 12 + leaveOneOutBytesPerQuery(want);
    const nb = Math.max(1, Math.min(open.length, Math.floor(budget / 4 / perQuery)));
    const next: number[] = [];
    const q = new Float32Array(nb * dim);
    for (let b0 = 0; b0 < open.length; b0 += nb) {
      const m = Math.min(nb, open.length - b0);
      for (let t = 0; t < m; t++) q.set(vectors.subarray(open[b0 + t] * dim, open[b0 + t] * dim + dim), t * dim);
      const res = knn(q, m, vectors, n, dim, want, distance, opts);
      const kk = res.k;
      for (let t = 0; t < m; t++) {
        const i = open[b0 + t];
        let last = -Infinity;
        let others = 0;
        for (let r = 0; r < kk; r++) {
          const j = res.indices[t * kk + r];
          if (j === i) continue;
          const d = res.distances[t * kk + r];
          others++;
          last = d;
          if (d < threshold) uf.union(i, j);
        }
        if (others >= k && last < threshold) next.push(i);
      }
    }
    open = next;
  }
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = uf.find(i);
    let g = members.get(r);
    if (!g) { g = []; members.set(r, g); }
    g.push(i);
  }
  const groups = [...members.values()].filter((g) => g.length > 1).sort((a, b) => b.length - a.length || a[0] - b[0]);
  return { groups, widened: widenedRows.size };
}
