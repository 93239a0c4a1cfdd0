// What a backbone builder takes and hands to the head: the model input and the feature map on top of it.
import type * as tf from '@tensorflow/tfjs';

export interface Backbone {
  input: tf.SymbolicTensor;
  features: tf.SymbolicTensor;
}

export interface BackboneOptions {
  /** Square input side in pixels; images are [imageSize, imageSize, 3]. */
  imageSize: number;
  /** L2 factor on the kernels the backbone regularises (mini-xception's, as its paper); 0: none. */
  l2: number;
}
