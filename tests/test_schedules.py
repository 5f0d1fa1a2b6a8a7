"""Learning-rate schedules shared by the classification experiments: the book's step,
multi-factor and cosine-with-warm-up shapes, their text as the form and --set take it, and a
run that follows its schedule epoch by epoch."""

from __future__ import annotations

import pytest

from lab import catalog, runner
from lab.events import Curve, EpochEnd, Event
from lab.spec import ParamError
from lab.train import schedules, updaters


def test_each_schedule_has_the_books_shape() -> None:
    assert schedules.parse("constant").lrs(0.3, 3) == [0.3, 0.3, 0.3]
    assert schedules.parse("step every=2 factor=0.5").lrs(0.4, 5) == [0.4, 0.4, 0.2, 0.2, 0.1]
    # MultiStepLR(milestones=[2, 3]): after epoch 2, and again after epoch 3
    assert schedules.parse("multifactor at=2,3 factor=0.1").lrs(1.0, 4) == pytest.approx(
        [1.0, 1.0, 0.1, 0.01])
    cosine = schedules.parse("cosine final=0.01 warmup=2").lrs(0.3, 8)
    assert cosine[:3] == pytest.approx([0.1, 0.2, 0.3])  # warm-up, then the full rate
    assert cosine[-1] == pytest.approx(0.01)  # down to final at the last epoch
    assert all(a > b for a, b in zip(cosine[2:], cosine[3:], strict=False))


@pytest.mark.parametrize(("text", "fault"), [
    ("sometimes", "unknown schedule 'sometimes'"),
    ("step every=0", "every must be at least 1"),
    ("multifactor at=30,15", "at must be rising epochs"),
    ("cosine warmup=1.5", "warmup must be a whole number"),
    ("step factor=2", "factor must be in (0, 1]"),
    ("cosine lr=3", "cosine takes final=, warmup=, not 'lr=3'"),
])
def test_a_bad_schedule_is_refused_before_a_run_with_the_reason(text: str, fault: str) -> None:
    exp = catalog.get("softmax")
    with pytest.raises(ParamError) as refused:
        exp.resolve("quick", {"lr_schedule": text})
    assert refused.value.name == "lr_schedule" and fault in str(refused.value)


def test_a_run_sets_each_epochs_rate_and_draws_the_schedule_first(
        small_fashion_mnist, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = catalog.get("softmax-scratch")
    params = exp.resolve("quick", {"epochs": 3, "lr_schedule": "step every=1 factor=0.5"})
    given: list[float] = []  # what the recipe's updater is told, epoch by epoch
    set_lr = updaters.ScratchSGD.set_lr
    monkeypatch.setattr(updaters.ScratchSGD, "set_lr",
                        lambda self, lr: (given.append(lr), set_lr(self, lr)))
    events: list[Event] = []
    result = runner.run(exp, params, sinks=[events.append])
    assert result.status == "finished"
    assert given == [0.1, 0.05, 0.025]
    drawn = [i for i, e in enumerate(events)
             if isinstance(e, Curve) and e.figure == "learning rate"]
    assert drawn and events[drawn[0]].y == [0.1, 0.05, 0.025]
    assert drawn[0] < next(i for i, e in enumerate(events) if isinstance(e, EpochEnd))
