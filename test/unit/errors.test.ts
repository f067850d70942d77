// One error module: every error of ours carries a machine-readable code and the exit code the CLI and the worker
// end with; Node's errno errors on files are `io`; anything else is internal (exit 1).
import test from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/core/config';
import { DatasetError } from '../../src/core/dataset';
import { BadDataError, errorCodeOf, exitCodeOf, LabError, messageOf } from '../../src/core/errors';
import { SamplerError } from '../../src/core/sampler';
import { UsageError } from '../../src/cli/args';
import { BackendError } from '../../src/engine/backend';
import { EngineError } from '../../src/engine/embed';
import { TrainingError } from '../../src/engine/train';
import { WebGpuDeviceError } from '../../src/engine/webgpu';

test('our errors are LabErrors with a code and an exit code (2 for bad usage, config and data)', () => {
  const cases: Array<[Error, string, number, string]> = [
    [new ConfigError([{ path: 'loss.type', message: 'must be one of …' }]), 'bad-config', 2, 'ConfigError'],
    [new DatasetError('missing', 'no folder'), 'bad-data', 2, 'DatasetError'],
    [new SamplerError('too few classes'), 'bad-data', 2, 'SamplerError'],
    [new BackendError('no webgpu', 'webgpu'), 'backend', 2, 'BackendError'],
    [new EngineError('--engine onnx cannot run'), 'bad-usage', 2, 'EngineError'],
    [new UsageError('-k must be a positive integer'), 'bad-usage', 2, 'UsageError'],
    [new TrainingError('loss is NaN', 'nan-loss'), 'nan-loss', 1, 'TrainingError'],
    [new TrainingError('not a run folder', 'io', 2), 'io', 2, 'TrainingError'],
    [new WebGpuDeviceError('device lost'), 'backend', 1, 'WebGpuDeviceError'],
    [new BadDataError('bad table'), 'bad-data', 2, 'BadDataError'],
  ];
  for (const [err, code, exit, name] of cases) {
    assert.ok(err instanceof LabError, name);
    assert.equal(errorCodeOf(err), code, name);
    assert.equal(exitCodeOf(err), exit, name);
    assert.equal(err.name, name);
  }
  assert.equal((new DatasetError('single-class', 'one class') as DatasetError).kind, 'single-class');
});

test('other thrown values: errno errors on files are io (a full disk said in words), the rest internal', () => {
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  assert.equal(errorCodeOf(full), 'io');
  assert.equal(exitCodeOf(full), 1);
  assert.match(messageOf(full), /^disk full: ENOSPC/);
  assert.equal(errorCodeOf(Object.assign(new Error('x'), { code: 'EACCES' })), 'io');
  assert.equal(errorCodeOf(new TypeError('oops')), 'internal');
  assert.equal(exitCodeOf(new TypeError('oops')), 1);
  assert.equal(exitCodeOf('a string'), 1);
  assert.equal(exitCodeOf(Object.assign(new Error('legacy'), { exitCode: 2 })), 2, 'an older error with exitCode 2');
});
