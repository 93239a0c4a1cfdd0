// meta.json beside every checkpoint's model (SPEC §6): which run and epoch it is from, how it
// scored, and how its inputs were prepared — what evaluate, predict and export need to use it.

export interface CheckpointMeta {
  runId: string;
  /** Epochs completed when the checkpoint was taken (1-based). */
  epoch: number;
  step: number;
  valAccuracy: number;
  valLoss: number;
  model: string;
  imageSize: number;
  preprocessing: string;
  classes: readonly string[];
  savedAt: string;
}
