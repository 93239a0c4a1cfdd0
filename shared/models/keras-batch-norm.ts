// BatchNormalization with Keras' (TF >= 2.0) frozen-layer semantics. In Keras a BN layer with
// trainable = false runs in inference mode even when the model is called with training = true:
// it normalises with its moving statistics and leaves them untouched. tfjs-layers 4.22's
// BatchNormalization only looks at kwargs.training, so a frozen BN would still normalise with
// batch statistics and overwrite its moving mean/variance at every step — the pretrained
// statistics of a fine-tuned ResNet50 would drift, and replicas would diverge.
// On the wasm backend a training-mode pass normalises through batch-norm-training.ts (the same
// math in a few XNNPACK passes, and its gradient); elsewhere through tfjs-layers' own code.
// The subclass keeps className 'BatchNormalization' and adds no config, so model.json stays a
// standard BatchNormalization that plain tf.loadLayersModel reads without custom classes.
import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../errors.js';
import { trainingBatchNorm } from './batch-norm-training.js';

type BatchNormalizationArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type BatchNormalization = ReturnType<typeof tf.layers.batchNormalization>;
type Kwargs = Record<string, unknown>;

// tfjs exports only the factory, not the class; its constructor is the class to extend.
const BatchNormalizationBase = tf.layers.batchNormalization().constructor as new (
  args?: BatchNormalizationArgs,
) => BatchNormalization;

/**
 * Backends whose training-mode BN goes through trainingBatchNorm: wasm, where it was measured
 * (bench/model-step.ts). tfjs-node's TensorFlow kernels and the cpu backend keep tfjs' own path;
 * the cpu backend is the reference the gradient-parity tests compare with.
 */
const FAST_TRAINING_BACKENDS: ReadonlySet<string> = new Set(['wasm']);

export class KerasBatchNormalization extends BatchNormalizationBase {
  static readonly className = 'BatchNormalization';

  // tfjs keeps these private; the same defaults as its constructor.
  private readonly normalizedAxis: number;
  private readonly decay: number;
  private readonly varianceEpsilon: number;
  private readonly scaledAndCentred: boolean;

  constructor(args: BatchNormalizationArgs = {}) {
    super(args);
    this.normalizedAxis = typeof args.axis === 'number' ? args.axis : -1;
    this.decay = 1 - (args.momentum ?? 0.99);
    this.varianceEpsilon = args.epsilon ?? 1e-3;
    this.scaledAndCentred = (args.scale ?? true) && (args.center ?? true);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const training = kwargs['training'] === true && this.trainable;
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    const lastAxis = this.normalizedAxis === -1 || this.normalizedAxis === input.rank - 1;
    if (training && lastAxis && this.scaledAndCentred && FAST_TRAINING_BACKENDS.has(tf.getBackend())) {
      return this.normalizeBatch(input);
    }
    // A copy: the executor hands the same kwargs object to every layer of the model.
    return super.call(inputs, { ...kwargs, training });
  }

  /** Training mode: batch statistics, and the moving averages updated as tfjs-layers updates them. */
  private normalizeBatch(input: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { y, mean, variance } = trainingBatchNorm(input, this.weightNamed('gamma').read() as tf.Tensor1D, this.weightNamed('beta').read() as tf.Tensor1D, this.varianceEpsilon);
      const updates: Array<[tf.LayerVariable, tf.Tensor1D]> = [
        [this.weightNamed('moving_mean'), mean],
        [this.weightNamed('moving_variance'), variance],
      ];
      for (const [variable, batchValue] of updates) {
        tf.tidy(() => {
          const moving = variable.read();
          variable.write(tf.sub(moving, tf.mul(tf.sub(moving, batchValue), this.decay)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    });
  }

  private weightNamed(name: 'gamma' | 'beta' | 'moving_mean' | 'moving_variance'): tf.LayerVariable {
    const weight = this.weights.find((w) => w.originalName === `${this.name}/${name}`);
    if (!weight) throw new ModelError('MODEL_INVALID', `BatchNormalization layer ${this.name} has no ${name} weight (is it built?)`);
    return weight;
  }
}

export function kerasBatchNormalization(args: BatchNormalizationArgs): KerasBatchNormalization {
  return new KerasBatchNormalization(args);
}
