"""A sweep in the TUI: the form's grid run in turn, each run trained by a worker process and
shown live on the Train tab as a single run is.

``SweepHandle`` is the lab's own Follower (same start, stop, interrupt, running, done, result),
so the app keeps one ``handle`` and one Stop. Besides the runs' RunEvents it posts a
``SweepStep`` before each run (the app clears the Train tab for it) and, after the usual final
RunFinished (``result`` is the last run's), a ``SweepFinished`` with every run's result. Stop
ends the current run (it keeps its checkpoint) and starts no more; a run that fails or
diverges does not end the sweep.
"""

from __future__ import annotations

from typing import Any

from lab.cancel import Cancel
from lab.spec import Experiment
from lab.store import Store
from lab.sweep import SweepPoint, new_sweep_id
from tui.messages import SweepFinished, SweepStep
from tui.run import EventBatcher, Follower, Post, RunWorkers, in_worker


class SweepHandle(Follower):
    def __init__(self, post: Post, experiment: Experiment, points: list[SweepPoint], *,
                 device: str, preset: str, workers: RunWorkers,
                 sweep_id: str | None = None) -> None:
        super().__init__(post, experiment, owned=True)
        self.points = points
        self.device, self.preset = device, preset
        self.workers = workers
        self.sweep_id = sweep_id or new_sweep_id(experiment.id)
        self.results: list[Any] = []  # the runs' RunResults, in the grid's order
        self.index = 0  # the run under way (1-based); 0 before the first

    def _watch(self, sink: EventBatcher, cancel: Cancel) -> Any:
        """Each point in turn: start it in a worker, follow it to its end."""
        from lab import devices  # torch: seconds to import, so only here

        store = Store()
        device = devices.validate(self.device)
        for index, point in enumerate(self.points, 1):
            if self._stop_asked or cancel.is_set():  # the runs not started are never created
                break
            self.index = index
            self.post(SweepStep(self.sweep_id, index, len(self.points), point.label,
                                point.params))
            self._begin(store, in_worker(self.workers, self.experiment, point.params,
                                         device=device, seed=point.seed, preset=self.preset,
                                         sweep=self.sweep_id))
            try:
                self.result = self._follow(store, sink, cancel)
            finally:
                self._release()
            sink.flush()  # this run's last events before the next run's step
            self.results.append(self.result)
        return self.result

    def _main(self) -> None:
        super()._main()  # the runs, then RunFinished
        self.post(SweepFinished(self.sweep_id, list(self.results), len(self.points)))
