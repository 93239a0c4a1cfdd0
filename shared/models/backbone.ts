// What a backbone builder hands to the head: the model input and the feature map on top of it.
import type * as tf from '@tensorflow/tfjs';

export interface Backbone {
  input: tf.SymbolicTensor;
  features: tf.SymbolicTensor;
}
