"""How each experiment runs: the little code that joins data, model and training loop.

A recipe is ``fn(ctx, **experiment.options)``; the runner imports it only when the experiment runs.
"""
