// BatchNormalization with Keras' (TF >= 2.0) frozen-layer semantics. In Keras a BN layer with
// trainable = false runs in inference mode even when the model is called with training = true:
// it normalises with its moving statistics and leaves them untouched. tfjs-layers 4.22's
// BatchNormalization only looks at kwargs.training, so a frozen BN would still normalise with
// batch statistics and overwrite its moving mean/variance at every step — the pretrained
// statistics of a fine-tuned ResNet50 would drift, and replicas would diverge.
// The subclass keeps className 'BatchNormalization' and adds no config, so model.json stays a
// standard BatchNormalization that plain tf.loadLayersModel reads without custom classes.
import * as tf from '@tensorflow/tfjs';

type BatchNormalizationArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type BatchNormalization = ReturnType<typeof tf.layers.batchNormalization>;
type Kwargs = Record<string, unknown>;

// tfjs exports only the factory, not the class; its constructor is the class to extend.
const BatchNormalizationBase = tf.layers.batchNormalization().constructor as new (
  args?: BatchNormalizationArgs,
) => BatchNormalization;

export class KerasBatchNormalization extends BatchNormalizationBase {
  static readonly className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    // A copy: the executor hands the same kwargs object to every layer of the model.
    return super.call(inputs, { ...kwargs, training: kwargs['training'] === true && this.trainable });
  }
}

export function kerasBatchNormalization(args: BatchNormalizationArgs): KerasBatchNormalization {
  return new KerasBatchNormalization(args);
}
