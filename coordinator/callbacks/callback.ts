// Policies that decide at epoch boundaries — the LR schedule, which checkpoints to keep, when to
// stop — as callbacks on typed hooks, the way Keras' Callback and Lightning's hooks are. A callback
// reads the epoch's logs and returns decisions; the trainer carries them out (it alone touches the
// model, the checkpoints and the loop), so a callback is a pure object tested on its own.

/** What an epoch measured (Keras' `logs`; epoch is 1-based, as in metrics.csv). */
export interface EpochLogs {
  epoch: number;
  loss: number;
  accuracy: number;
  val_loss: number;
  val_accuracy: number;
  /** The learning rate the epoch trained with. */
  lr: number;
}

export type MonitoredMetric = keyof Omit<EpochLogs, 'epoch' | 'lr'>;

export type Decision =
  | { kind: 'set_learning_rate'; learningRate: number; previous: number; monitor: MonitoredMetric }
  /** Save checkpoints/best (`previousBest`: the value it replaces) or checkpoints/last. */
  | { kind: 'save_checkpoint'; checkpoint: 'best'; monitor: MonitoredMetric; value: number; previousBest: number | null }
  | { kind: 'save_checkpoint'; checkpoint: 'last' }
  /** Keep a copy of the weights as they are now. */
  | { kind: 'remember_weights' }
  /** Put back the weights remembered at the end of `epoch`. */
  | { kind: 'restore_weights'; epoch: number; monitor: MonitoredMetric; best: number }
  | { kind: 'stop_training'; monitor: MonitoredMetric; best: number; bestEpoch: number; patience: number }
  /** Tell the user something the callback could not do. */
  | { kind: 'warn'; code: string; message: string };

export interface TrainingCallback {
  readonly name: string;
  /** After the epoch's validation; decisions are carried out in the order returned. */
  onEpochEnd?(logs: EpochLogs): Decision[];
  /** After the last epoch (or an early stop), before the run ends. */
  onTrainEnd?(): Decision[];
}
