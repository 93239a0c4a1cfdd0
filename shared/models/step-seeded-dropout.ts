// Dropout whose mask can be made reproducible per training step. tfjs' Dropout draws its mask
// with tf.randomUniform(seed): with no seed it uses Math.random (a run cannot be replayed from its
// seed, SPEC §3); with a fixed `seed` argument every call re-seeds alea with the same value and
// draws the SAME mask on every step, which is no longer dropout. This layer takes a fresh seed
// per step instead (setDropoutSeed), e.g. deriveSeed(runSeed, step, rank); until one is set it
// behaves exactly like tfjs' Dropout. It keeps className 'Dropout' and adds no config, so
// model.json stays a standard Dropout for plain tf.loadLayersModel.
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../random.js';

type DropoutArgs = Parameters<typeof tf.layers.dropout>[0];
type Dropout = ReturnType<typeof tf.layers.dropout>;
type Kwargs = Record<string, unknown>;

// tfjs exports only the factory, not the class; its constructor is the class to extend.
const DropoutBase = tf.layers.dropout({ rate: 0 }).constructor as new (args: DropoutArgs) => Dropout;

export class StepSeededDropout extends DropoutBase {
  static readonly className = 'Dropout';

  private readonly dropRate: number;
  private maskSeed: number | undefined;

  constructor(args: DropoutArgs) {
    super(args);
    this.dropRate = args.rate;
  }

  /** The seed of the next training-mode masks; set a new one every step or the mask repeats. */
  setMaskSeed(seed: number): void {
    this.maskSeed = seed;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    if (this.maskSeed === undefined || kwargs['training'] !== true || this.dropRate === 0) {
      return super.call(inputs, kwargs);
    }
    const input = Array.isArray(inputs) ? inputs[0]! : inputs;
    const seed = this.maskSeed;
    return tf.tidy(() => tf.dropout(input, this.dropRate, undefined, seed));
  }
}

/** Seeds the masks of every dropout layer of a model built by buildModel for the next step. */
export function setDropoutSeed(model: tf.LayersModel, seed: number): void {
  model.layers.forEach((layer, index) => {
    // Layers of one model get distinct seeds so that two dropout layers never share a mask.
    if (layer instanceof StepSeededDropout) layer.setMaskSeed(deriveSeed(seed, index));
  });
}
