// Choosing the compute backend (SPEC §4 --backend). tfjs-node-gpu (CUDA) and tfjs-node
// (libtensorflow on the CPU) are optional: their install scripts download libtensorflow, so they
// are optionalDependencies that a GPU host installs and this machine cannot. They are looked up at
// run time. The wasm backend always installs from npm and is the CPU fallback; it needs our
// training kernels (wasm-kernels/). 'auto' takes the fastest one present.

import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import type { BackendChoice } from '../config.js';
import { BackendError } from '../errors.js';
import { registerWasmTrainingKernels } from './wasm-kernels/index.js';

export type ResolvedBackend = Exclude<BackendChoice, 'auto'>;

export interface SelectedBackend {
  name: ResolvedBackend;
  /** The tfjs backend name it registers ('tensorflow' for the tfjs-node packages). */
  tfBackend: string;
  device: 'gpu' | 'cpu';
}

const PACKAGES: Record<'tfjs-node-gpu' | 'tfjs-node', string> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
};

export const GPU_INSTALL_HINT =
  'install it on a CUDA 11.2 + cuDNN 8.1 host with internet access: npm install @tensorflow/tfjs-node-gpu@4.22.0';

const require = createRequire(import.meta.url);

/** Whether an optional backend package is installed (resolvable), without loading it. */
export function isInstalled(name: 'tfjs-node-gpu' | 'tfjs-node'): boolean {
  try {
    require.resolve(PACKAGES[name]);
    return true;
  } catch {
    return false;
  }
}

/** What 'auto' resolves to on this host, without loading anything. */
export function resolveAuto(): ResolvedBackend {
  if (isInstalled('tfjs-node-gpu') && process.env['CUDA_VISIBLE_DEVICES'] !== '-1') return 'tfjs-node-gpu';
  if (isInstalled('tfjs-node')) return 'tfjs-node';
  return 'wasm';
}

let selected: SelectedBackend | undefined;

/** Loads and activates a backend; idempotent for the same choice. */
export async function selectBackend(choice: BackendChoice): Promise<SelectedBackend> {
  const name = choice === 'auto' ? resolveAuto() : choice;
  if (selected?.name === name) return selected;
  tf.env().set('PROD', true);
  if (name === 'tfjs-node-gpu' || name === 'tfjs-node') {
    if (!isInstalled(name)) {
      const hint = name === 'tfjs-node-gpu' ? GPU_INSTALL_HINT : 'npm install @tensorflow/tfjs-node@4.22.0 (downloads libtensorflow)';
      throw new BackendError('BACKEND_UNAVAILABLE', `--backend ${name}: ${PACKAGES[name]} is not installed; ${hint}`);
    }
    try {
      await import(PACKAGES[name]);
    } catch (cause) {
      throw new BackendError('BACKEND_UNAVAILABLE', `--backend ${name}: ${PACKAGES[name]} is installed but failed to load: ${(cause as Error).message}`, { cause });
    }
    await activate('tensorflow', name);
    selected = { name, tfBackend: 'tensorflow', device: name === 'tfjs-node-gpu' ? 'gpu' : 'cpu' };
  } else if (name === 'wasm') {
    registerWasmTrainingKernels();
    await activate('wasm', name);
    selected = { name, tfBackend: 'wasm', device: 'cpu' };
  } else {
    await activate('cpu', name);
    selected = { name, tfBackend: 'cpu', device: 'cpu' };
  }
  return selected;
}

async function activate(tfBackend: string, name: string): Promise<void> {
  const ok = await tf.setBackend(tfBackend);
  await tf.ready();
  if (!ok || tf.getBackend() !== tfBackend) {
    throw new BackendError('BACKEND_UNAVAILABLE', `--backend ${name}: tfjs could not initialise its '${tfBackend}' backend`);
  }
}
