// Ctrl-C (SIGINT) and SIGTERM: the first asks the run to stop after the current step, the second
// stops it at once. Handlers are installed for the run and removed after it.

export interface InterruptHandlers {
  first(signal: NodeJS.Signals): void;
  again(signal: NodeJS.Signals): void;
}

export function onInterrupts(handlers: InterruptHandlers): () => void {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      handlers.again(signal);
      return;
    }
    interrupted = true;
    handlers.first(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
