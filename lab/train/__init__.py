"""Training loops by task, and what they share: the run context, the epoch monitor, updaters."""
