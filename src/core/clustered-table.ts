// A seeded synthetic embedding table for the vector-index test and benchmark: a mixture of `clusters` Gaussian
// clusters in `dim` dimensions (centres N(0, 1), spread `spread`), the shape of real embeddings (classes), not of
// uniform noise, on which no approximate index does well and no real model produces.
import { Rng } from './rng';

export function clusteredTable(rows: number, dim: number, seed: number, clusters = Math.max(1, Math.round(rows / 100)), spread = 0.35): { paths: string[]; labels: string[]; vectors: Float32Array; dim: number } {
  const rng = new Rng(seed);
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.normal();
  const vectors = new Float32Array(rows * dim);
  const paths: string[] = new Array(rows);
  const labels: string[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const c = rng.int(clusters);
    for (let j = 0; j < dim; j++) vectors[r * dim + j] = centres[c * dim + j] + spread * rng.normal();
    paths[r] = `img/${r}.png`;
    labels[r] = `c${c}`;
  }
  return { paths, labels, vectors, dim };
}
