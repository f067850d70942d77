// The benchmarks' model: an untrained ResNet-18 at width 0.25 (Dense(128) + L2, 64×64), exported as
// `embedlab export --format both` would (model.json + weights.bin + model.onnx + preprocessing.json).
export async function exportBenchBranch(runDir: string, dir: string): Promise<string> {
  const { initBackend } = await import('../src/engine/backend');
  const { buildBranch } = await import('../src/engine/models');
  const { exportModels } = await import('../src/engine/export');
  await initBackend('wasm');
  const config = {
    name: 'bench',
    data: { train: '/nowhere', labelLevel: 1, imageSize: [64, 64], channels: 3, fit: 'cover', normalize: 'imagenet', samplesPerEpoch: 64,
      positiveRatio: 0.5, augment: null, cacheMB: 16, decodeConcurrency: 2, validationLimit: 100 },
    model: { backbone: 'resnet18', width: 0.25, embeddingDim: 128, normalize: true },
    loss: { type: 'triplet', margin: 0.2, margin2: 0.1, distance: 'euclidean', mining: 'none' },
    training: { epochs: 1, batchSize: 8, classesPerBatch: 2, imagesPerClass: 4, optimizer: { type: 'adam', learningRate: 0.001, momentum: 0 },
      seed: 3, backend: 'wasm', checkpointEverySteps: 0 },
  } as unknown as import('../src/core/config-types').ExperimentConfig;
  const branch = buildBranch({ ...config.model, inputShape: [64, 64, 3], seed: 3 });
  await exportModels(runDir, config, branch, ['branch'], { branch: dir }, 'untrained', ['tfjs', 'onnx']);
  branch.dispose();
  return dir;
}
