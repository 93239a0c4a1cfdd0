// The L2 penalty of the head (SPEC §1) for a custom training loop. tfjs-layers adds a layer's
// kernel regularizer as a closure over the weight (Layer.addLoss), not as a by-product of the
// forward pass, so model.calculateLosses() evaluates it from the current weights wherever it is
// called; inside tf.variableGrads it is differentiated like any other loss term.
import * as tf from '@tensorflow/tfjs';

/** Sum of the model's regularization losses (l2 * sum(W^2) per regularized kernel); 0 when none. */
export function regularizationLoss(model: tf.LayersModel): tf.Scalar {
  return tf.tidy(() => {
    const losses = model.calculateLosses();
    return losses.length === 0 ? tf.scalar(0) : (tf.addN(losses) as tf.Scalar);
  });
}
