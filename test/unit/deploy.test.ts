// The deployment files (issue 18, item 4), checked as far as this machine allows: the Kubernetes Job against the
// Kubernetes API schema (kubernetes-models' batch/v1 Job validator; no cluster here) and for the fields embedlab relies
// on; the Slurm script's syntax (bash -n) and its use of --shard auto; the Dockerfile's base and install. No Docker
// daemon runs here, so the image itself is not built (docs/deploy.md).
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

// js-yaml comes with the dev tool chain (@vscode/vsce); kubernetes-models (a dev dependency) is ESM only.
const { load } = require('js-yaml') as { load(text: string): unknown };
const jobClass = async () => (await import('kubernetes-models/batch/v1')).Job;

const ROOT = path.resolve(__dirname, '..', '..');

interface JobDoc {
  apiVersion: string; kind: string;
  spec: { completionMode: string; completions: number; parallelism: number; template: { spec: { restartPolicy: string; containers: Array<{ args: string[]; env: Array<{ name: string; value: string }>; volumeMounts: Array<{ mountPath: string }> }> } } };
}

test('deploy/kubernetes/embed-job.yaml is a valid batch/v1 Job: Indexed, --shard auto, EMBEDLAB_SHARD_COUNT = completions', async () => {
  const Job = await jobClass();
  const doc = load(fs.readFileSync(path.join(ROOT, 'deploy/kubernetes/embed-job.yaml'), 'utf8')) as JobDoc;
  (new Job(doc as never) as unknown as { validate(): void }).validate(); // throws on a schema violation
  assert.equal(doc.kind, 'Job');
  assert.equal(doc.spec.completionMode, 'Indexed');
  const c = doc.spec.template.spec.containers[0];
  assert.equal(doc.spec.template.spec.restartPolicy, 'Never');
  const shard = c.args.indexOf('--shard');
  assert.equal(c.args[shard + 1], 'auto');
  assert.equal(c.args[0], 'embed');
  assert.equal(Number(c.env.find((e) => e.name === 'EMBEDLAB_SHARD_COUNT')!.value), doc.spec.completions);
  const out = c.args[c.args.indexOf('--out') + 1];
  assert.ok(c.volumeMounts.some((m) => out.startsWith(m.mountPath + '/')), `--out ${out} is on a mounted volume`);
  // The validator is not vacuous: a wrong type is refused.
  const bad = structuredClone(doc) as unknown as { spec: { completions: unknown } };
  bad.spec.completions = 'eight';
  assert.throws(() => (new Job(bad as never) as unknown as { validate(): void }).validate());
});

test('deploy/slurm/embed-array.sh parses (bash -n), is an array job and runs embed --shard auto', () => {
  const file = path.join(ROOT, 'deploy/slurm/embed-array.sh');
  const r = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /^#SBATCH --array=0-\d+$/m);
  assert.match(text, /embed --model "\$MODEL" "\$IMAGES" --shard auto --out "\$OUT"/);
});

test('Dockerfile: Node 20 slim, npm ci --omit=dev, the CLI as entry point', () => {
  const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  assert.match(text, /^FROM node:20-slim$/m);
  assert.match(text, /^RUN npm ci --omit=dev/m);
  assert.match(text, /^ENTRYPOINT \["node", "\/app\/bin\/embedlab\.js"\]$/m);
});
