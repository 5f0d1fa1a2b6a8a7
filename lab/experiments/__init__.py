"""Every experiment's declaration, chapter by chapter. Importing this never imports torch."""

from lab.experiments import linear, mlp

ALL = (*linear.EXPERIMENTS, *mlp.EXPERIMENTS)
