// A backend was asked for that cannot run here (exit code 2, with the reason and the fix). In a file of its own so
// that backend.ts and webgpu.ts both import it without importing each other in a circle.
import type { BackendChoice } from '../core/config-types';
import { LabError } from '../core/errors';

export class BackendError extends LabError {
  constructor(message: string, readonly backend: BackendChoice, readonly reason?: string, readonly fix?: string) {
    super('backend', message);
  }
}
