// SeparableConv2D whose pointwise kernel is initialised by its own initializer. tfjs-layers 4.22's
// SeparableConv constructor builds the pointwise initializer from `depthwiseInitializer` (the
// line reads config.depthwiseInitializer twice; tensorflow/tfjs#8564 fixes it, unreleased), so a
// seeded depthwise initializer would seed the pointwise kernel with the same seed: the two
// kernels would start from the same uniform draws, only scaled apart. Keras gives each its own.
// The subclass keeps className 'SeparableConv2D' and adds no config, so model.json stays a
// standard SeparableConv2D that plain tf.loadLayersModel reads without custom classes.
import * as tf from '@tensorflow/tfjs';

type SeparableConvArgs = Parameters<typeof tf.layers.separableConv2d>[0];
type SeparableConv = ReturnType<typeof tf.layers.separableConv2d>;
type Initializer = ReturnType<typeof tf.initializers.glorotUniform>;

// tfjs exports only the factory, not the class; its constructor is the class to extend.
const SeparableConvBase = tf.layers.separableConv2d({ filters: 1, kernelSize: 1 }).constructor as new (
  args: SeparableConvArgs,
) => SeparableConv;

export interface SeededSeparableConvArgs extends Omit<SeparableConvArgs, 'depthwiseInitializer' | 'pointwiseInitializer'> {
  depthwiseInitializer: Initializer;
  pointwiseInitializer: Initializer;
}

export class SeededSeparableConv2D extends SeparableConvBase {
  static readonly className = 'SeparableConv2D';

  constructor(args: SeededSeparableConvArgs) {
    super(args);
    // Before build() creates the weights, so the kernel is drawn by the initializer given.
    (this as unknown as { pointwiseInitializer: Initializer }).pointwiseInitializer = args.pointwiseInitializer;
  }
}
