"""Lecture 51's sequence model on the noisy sine, and lecture 53's two ways of cutting one long
sequence into minibatches (lab/data/sequences.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lab import catalog, charts, runner
from lab.data.sequences import batches, random_batches, sequential_batches
from lab.events import Curve, EpochEnd, Event
from lab.recipes import sequence
from lab.shapes import experiment_shapes

# -- minibatches --------------------------------------------------------------------------------

CASES = [(35, 2, 5), (35, 3, 3), (100, 4, 7), (10, 1, 1), (50, 5, 9)]  # length, batch, steps


def take(sampling: str, length: int, batch_size: int, num_steps: int,
         seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of batches of arange(length), each checked for its shape and its targets."""
    torch.manual_seed(seed)
    got = list(batches(torch.arange(length), batch_size, num_steps, sampling))
    assert all(X.shape == Y.shape == (batch_size, num_steps) for X, Y in got)
    assert all(torch.equal(Y, X + 1) for X, Y in got)  # Y is X one token later
    return got


@pytest.mark.parametrize(("length", "batch_size", "num_steps"), CASES)
@pytest.mark.parametrize("seed", range(8))
def test_random_sampling_takes_every_subsequence_once(length: int, batch_size: int,
                                                      num_steps: int, seed: int) -> None:
    got = take("random", length, batch_size, num_steps, seed)
    rows = [row for X, _ in got for row in X.tolist()]
    assert all(row == list(range(row[0], row[0] + num_steps)) for row in rows)  # contiguous
    if not rows:  # a large offset can leave fewer subsequences than one batch needs
        assert any((length - o - 1) // num_steps < batch_size for o in range(num_steps))
        return
    offset = min(row[0] for row in rows) % num_steps
    subseqs = (length - offset - 1) // num_steps
    assert len(got) == subseqs // batch_size  # the book's count: leftovers are dropped
    starts = sorted(row[0] for row in rows)
    assert len(set(starts)) == len(starts)  # none twice
    assert set(starts) <= {offset + k * num_steps for k in range(subseqs)}
    if subseqs % batch_size == 0:
        assert starts == [offset + k * num_steps for k in range(subseqs)]  # every one


@pytest.mark.parametrize(("length", "batch_size", "num_steps"), CASES)
@pytest.mark.parametrize("seed", range(8))
def test_sequential_rows_continue_across_batches(length: int, batch_size: int,
                                                 num_steps: int, seed: int) -> None:
    got = take("sequential", length, batch_size, num_steps, seed)
    if not got:  # a large offset can leave rows shorter than num_steps
        assert any((length - o - 1) // batch_size < num_steps for o in range(num_steps + 1))
        return
    offset = int(got[0][0][0, 0])
    assert 0 <= offset <= num_steps
    row_length = (length - offset - 1) // batch_size
    assert len(got) == row_length // num_steps
    for (X0, _), (X1, _) in zip(got, got[1:], strict=False):
        assert torch.equal(X1[:, 0], X0[:, -1] + 1)  # row i goes on where it stopped
    for i, (X, _) in enumerate(got):  # rows are consecutive stretches of the corpus
        assert torch.equal(X[:, 0], offset + i * num_steps + row_length * torch.arange(batch_size))


def test_offsets_are_the_books_ranges_and_follow_the_seed() -> None:
    seq = torch.arange(35)
    random_offsets, sequential_offsets = set(), set()
    for seed in range(60):
        torch.manual_seed(seed)
        random_offsets.add(min(int(X.min()) for X, _ in random_batches(seq, 2, 5)))
        sequential_offsets.add(int(next(sequential_batches(seq, 2, 5))[0][0, 0]))
    assert random_offsets == set(range(5))  # randint(0, num_steps − 1)
    assert sequential_offsets == set(range(6))  # randint(0, num_steps)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append([X.tolist() for X, _ in random_batches(seq, 2, 5)])
    assert runs[0] == runs[1]


def test_shifted_targets_on_any_corpus_and_the_sampling_switch() -> None:
    corpus = torch.randint(0, 28, (200,))
    for sampling in ("random", "sequential"):
        for X, Y in batches(corpus, 4, 6, sampling):
            assert torch.equal(Y[:, :-1], X[:, 1:])
    with pytest.raises(ValueError, match="random.*sequential"):
        batches(corpus, 4, 6, "shuffled")


# -- the sequence model -------------------------------------------------------------------------

def test_sine_data_and_lagged_features() -> None:
    torch.manual_seed(0)
    time, x = sequence.sine_data()
    assert time.tolist() == list(range(1, 1001))
    noise = x - torch.sin(0.01 * time)
    assert abs(float(noise.mean())) < 0.03 and 0.18 < float(noise.std()) < 0.22
    features, labels = sequence.lagged(x, 4)
    assert features.shape == (996, 4) and labels.shape == (996, 1)
    for i in range(4):
        assert torch.equal(features[:, i], x[i:996 + i])
    assert torch.equal(labels.reshape(-1), x[4:])
    torch.manual_seed(0)
    assert torch.equal(sequence.sine_data()[1], x)  # the seed fixes the data


def last_value_net(tau: int) -> nn.Module:
    """Predicts x[t] = x[t−1]."""
    net = nn.Linear(tau, 1)
    with torch.no_grad():
        net.weight.zero_()
        net.weight[0, -1] = 1.0
        net.bias.zero_()
    return net


def test_multistep_feeds_the_model_its_own_predictions() -> None:
    x = torch.arange(20, dtype=torch.float32)
    preds = sequence.multistep(last_value_net(3), x, 10, 3)
    assert torch.equal(preds[:10], x[:10])
    assert preds[10:].tolist() == [9.0] * 10  # the last known value, carried forward
    mean_net = nn.Linear(2, 1)
    with torch.no_grad():
        mean_net.weight.fill_(0.5)
        mean_net.bias.zero_()
    preds = sequence.multistep(mean_net, x, 5, 2)
    assert preds[5:8].tolist() == [3.5, 3.75, 3.625]  # means of (3, 4), (4, 3.5), (3.5, 3.75)


def test_k_step_predictions_start_from_data_k_steps_back() -> None:
    x = torch.arange(100, dtype=torch.float32)
    tau, max_steps = 4, 8
    table = sequence.k_step(last_value_net(tau), x, tau, max_steps)
    rows = 100 - tau - max_steps + 1
    assert table.shape == (rows, tau + max_steps)
    assert torch.equal(table[:, :tau], torch.stack([x[i:i + rows] for i in range(tau)], 1))
    for k in range(1, max_steps + 1):  # each is the last known value, x[i + tau − 1]
        assert torch.equal(table[:, tau + k - 1], x[tau - 1:tau - 1 + rows])


def test_the_network_is_the_books() -> None:
    exp = catalog.get("sequence")
    shape, rows = experiment_shapes(exp, exp.resolve())
    assert shape == (1, 4)
    assert rows == [("Linear", (1, 10)), ("ReLU", (1, 10)), ("Linear", (1, 1))]
    torch.manual_seed(0)
    weight = sequence.get_net(4)[0].weight.detach()
    # xavier_uniform draws from ±√(6 / (4 + 10)) ≈ ±0.65; torch's default only from ±1/√4
    assert 0.5 < float(weight.abs().max()) <= (6 / (4 + 10)) ** 0.5


def test_sequence_learns_and_shows_how_errors_pile_up() -> None:
    exp = catalog.get("sequence")
    events: list[Event] = []
    result = runner.run(exp, exp.resolve(), sinks=[events.append])
    assert result.status == "finished", result.reason
    losses = [e.metrics["loss"] for e in events if isinstance(e, EpochEnd)]
    assert len(losses) == 5
    assert losses[-1] < 0.07  # the book: 0.0538 after 5 epochs; the noise alone is 0.04
    assert losses[-1] > 0.03
    errors = [result.metrics[f"mse_{k}_step"] for k in sequence.STEPS]
    assert errors[0] < 0.1 and errors[-1] > 2 * errors[0]  # further ahead, worse

    curves = {(c.figure, c.series): c for c in events if isinstance(c, Curve)}
    assert list(dict.fromkeys(f for f, _ in curves)) == [
        "data", "1-step predictions", "multistep predictions", "k-step predictions"]
    assert len(curves["data", "x"].x) == 1000
    assert curves["1-step predictions", "1-step preds"].x[0] == 5  # predicts time 5 from 1..4
    multi = curves["multistep predictions", "multistep preds"]
    assert multi.x[0] == 605 and len(multi.x) == 396  # fed back from index 604
    k_step = [c for (f, _), c in curves.items() if f == "k-step predictions"]
    assert [c.series for c in k_step] == ["1-step preds", "4-step preds", "16-step preds",
                                         "64-step preds"]
    for k, curve in zip(sequence.STEPS, k_step, strict=True):
        assert len(curve.x) == len(curve.y) == 1000 - 4 - 64 + 1
        assert curve.x[0] == 4 + k and curve.x[-1] == 1000 - 64 + k  # time[tau+k−1 : T−64+k]
    palette = charts.colors(c.series for c in k_step)
    assert len(set(palette.values())) == 4  # four curves, four colours


def test_tau_changes_the_windows() -> None:
    exp = catalog.get("sequence")
    events: list[Event] = []
    result = runner.run(exp, exp.resolve(overrides={"tau": "16", "epochs": "1"}),
                        sinks=[events.append])
    assert result.status == "finished", result.reason
    one_step = next(e for e in events if isinstance(e, Curve) and e.series == "1-step preds")
    assert one_step.x[0] == 17 and len(one_step.x) == 1000 - 16
