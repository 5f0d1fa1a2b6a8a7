"""A sweep in the TUI: the form's grid run in turn in one background thread, each run shown live
on the Train tab as a single run is.

``SweepHandle`` is a RunHandle (same start, stop, interrupt, running, done, result), so the app
keeps one ``handle`` and one Stop. Besides the runs' RunEvents it posts a ``SweepStep`` before
each run (the app clears the Train tab for it) and, after the usual final RunFinished (``result``
is the last run's), a ``SweepFinished`` with every run's result. Stop ends the current run (it
keeps its checkpoint) and starts no more; a run that fails or diverges does not end the sweep.
"""

from __future__ import annotations

from typing import Any

from lab.cancel import Cancel
from lab.spec import Experiment
from lab.sweep import SweepPoint, new_sweep_id
from tui.messages import SweepFinished, SweepStep
from tui.run import EventBatcher, Post, RunHandle


class SweepHandle(RunHandle):
    def __init__(self, post: Post, experiment: Experiment, points: list[SweepPoint], *,
                 device: str, preset: str, sweep_id: str | None = None) -> None:
        super().__init__(post, experiment, self._sweep)
        self.points = points
        self.device, self.preset = device, preset
        self.sweep_id = sweep_id or new_sweep_id(experiment.id)
        self.results: list[Any] = []  # the runner's RunResults, in the grid's order
        self.index = 0  # the run under way (1-based); 0 before the first

    def _sweep(self, sink: EventBatcher, cancel: Cancel) -> Any:
        from lab import devices, runner  # torch: seconds to import, so only here

        device = devices.validate(self.device)
        for index, point in enumerate(self.points, 1):
            if cancel.is_set():  # stopped: the runs not started are never created
                break
            self.index = index
            self.post(SweepStep(self.sweep_id, index, len(self.points), point.label,
                                point.params))
            result = runner.run(self.experiment, point.params, device=device, seed=point.seed,
                                preset=self.preset, sinks=[sink], cancel=cancel,
                                sweep=self.sweep_id)
            sink.flush()  # this run's last events before the next run's step
            self.results.append(result)
            self.result = result
        return self.result

    def _main(self) -> None:
        super()._main()  # the runs, then RunFinished
        self.post(SweepFinished(self.sweep_id, list(self.results), len(self.points)))
