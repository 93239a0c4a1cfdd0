// Deterministic weight init: the same spec gives bit-identical weights on every worker and every
// machine, so replicas start equal without shipping weights. Kernels use Keras' default
// glorot_uniform with a per-layer seed; biases and BatchNorm parameters keep Keras' constant
// defaults (zeros; gamma 1, beta 0, moving mean 0, moving variance 1), which need no seed.
// tfjs seeds each initializer call afresh (seedrandom alea of the seed), so two layers given the
// same seed would get the same values: every layer gets its own.
import * as tf from '@tensorflow/tfjs';
import { deriveSeed } from '../random.js';

// Keeps the init stream apart from other draws made from the same run seed (split, data order).
const WEIGHT_INIT_STREAM = 0x696e6974;

type Initializer = ReturnType<typeof tf.initializers.glorotUniform>;

export class InitSeeds {
  private nextLayer = 0;

  constructor(private readonly modelSeed: number) {}

  /** glorot_uniform for the next weighted layer, in construction order. */
  glorotUniform(): Initializer {
    const seed = deriveSeed(this.modelSeed, WEIGHT_INIT_STREAM, this.nextLayer);
    this.nextLayer += 1;
    return tf.initializers.glorotUniform({ seed });
  }
}
