"""lab/models/fused_rnn.py: the CPU fast path of the concise RNN and GRU computes what nn.RNN and
nn.GRU compute (outputs, final state, every gradient), with the same parameters, and the model
takes it only where it applies; with its time loops in Python and compiled (lab/models/native.py,
rnn_loops.cpp: tests that take the ``loops`` fixture run with each)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lab import catalog, paths, runner
from lab.events import FINISHED, EpochEnd, Event
from lab.models import fused_rnn, native
from lab.models.fused_rnn import _GRU, _RNNTanh
from lab.models.rnn import RNNModel, language_model
from lab.train.language import predict

pytestmark = pytest.mark.usefixtures("one_thread")
LAYERS = {"rnn": nn.RNN, "gru": nn.GRU}
FUSED = {"rnn": fused_rnn.RNN, "gru": fused_rnn.GRU}
CASES = [("rnn", 1), ("gru", 1), ("rnn", 2), ("gru", 2)]


@pytest.fixture(params=["python", "compiled"])
def loops(request, monkeypatch) -> str:
    """The time loops in Python, or compiled where ``make`` built them (else skipped, saying
    so: ``python -m lab.models.native`` builds them)."""
    if request.param == "python":
        monkeypatch.setattr(native, "kernels", lambda: None)
    elif native.kernels() is None:
        pytest.skip("the compiled CPU kernels are not built here (python -m lab.models.native)")
    return request.param


def layer_and_batch(cell: str, num_layers: int, dtype: torch.dtype, seed: int = 0):
    """A small layer with weights large enough for the nonlinearities to matter, token ids
    [steps, batch] and a non-zero state."""
    torch.manual_seed(seed)
    layer = LAYERS[cell](28, 16, num_layers=num_layers).to(dtype)
    with torch.no_grad():
        for param in layer.parameters():
            param.copy_(torch.randn_like(param) * 0.5)
    x = torch.randint(0, 28, (9, 5))
    h0 = torch.randn(num_layers, 5, 16, dtype=dtype)
    return layer, x, h0


def torch_layer(layer: nn.RNNBase, x: torch.Tensor, h0: torch.Tensor):
    return layer(F.one_hot(x, 28).to(h0.dtype), h0)


@pytest.mark.parametrize(("cell", "num_layers"), CASES)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_outputs_and_final_state_equal_the_torch_layers(loops, cell, num_layers, dtype,
                                                         tol) -> None:
    layer, x, h0 = layer_and_batch(cell, num_layers, dtype)
    Y, state = fused_rnn.forward(layer, x, h0)
    Y_ref, state_ref = torch_layer(layer, x, h0)
    assert Y.dtype == state.dtype == dtype
    assert Y.shape == Y_ref.shape == (9, 5, 16) and state.shape == (num_layers, 5, 16)
    torch.testing.assert_close(Y, Y_ref, rtol=0, atol=tol)
    torch.testing.assert_close(state, state_ref, rtol=0, atol=tol)
    assert Y_ref.abs().max() > 0.5  # outputs far from zero: not a comparison of near-zeros


@pytest.mark.parametrize(("cell", "num_layers"), CASES)
def test_every_gradient_equals_autograd_through_the_torch_layer(cell, num_layers) -> None:
    layer, x, h0 = layer_and_batch(cell, num_layers, torch.float64, seed=1)
    h0.requires_grad_(True)
    inputs = [*layer.parameters(), h0]
    weights = torch.randn(9, 5, 16, dtype=torch.float64)

    def loss(Y, state):  # through every output and the final state, not only their sum
        return (Y * weights).sin().sum() + state.square().sum()

    grads = torch.autograd.grad(loss(*fused_rnn.forward(layer, x, h0)), inputs)
    grads_ref = torch.autograd.grad(loss(*torch_layer(layer, x, h0)), inputs)
    names = [name for name, _ in layer.named_parameters()] + ["h0"]
    for name, ours, theirs in zip(names, grads, grads_ref, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-8, msg=name)
        assert theirs.abs().max() > 1e-3, name  # each gradient is really exercised


@pytest.mark.parametrize(("cell", "num_layers"), CASES)
def test_float32_gradients_equal_the_torch_layers_in_float64(loops, cell, num_layers) -> None:
    """The loops the lab trains with (float32; compiled where built) against autograd through
    the torch layer in float64: every gradient, the state's too, within float32's rounding."""
    layer, x, h0 = layer_and_batch(cell, num_layers, torch.float32, seed=1)
    reference = LAYERS[cell](28, 16, num_layers=num_layers).double()
    reference.load_state_dict(layer.state_dict())
    weights = torch.randn(9, 5, 16, dtype=torch.float64)
    grads = []
    for net, h in ((layer, h0.clone()), (reference, h0.double())):
        h.requires_grad_(True)
        Y, state = (fused_rnn.forward(net, x, h) if net is layer else torch_layer(net, x, h))
        loss = (Y.double() * weights).sin().sum() + state.double().square().sum()
        grads.append(torch.autograd.grad(loss, [*net.parameters(), h]))
    names = [name for name, _ in layer.named_parameters()] + ["h0"]
    for name, ours, theirs in zip(names, *grads, strict=True):
        torch.testing.assert_close(ours.double(), theirs, rtol=1e-4, atol=1e-4, msg=name)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_saturated_gates_and_a_nan(loops, cell) -> None:
    """Huge pre-activations saturate as torch's σ and tanh do (no overflow into NaN); a NaN
    weight comes out NaN, so a diverging run stops and says so."""
    layer, x, h0 = layer_and_batch(cell, 1, torch.float32)
    with torch.no_grad():
        for param in layer.parameters():
            param.mul_(300)
    Y, state = fused_rnn.forward(layer, x, h0)
    assert Y.abs().max() > 0.99 and torch.isfinite(Y).all()
    torch.testing.assert_close(Y, torch_layer(layer, x, h0)[0], rtol=0, atol=1e-5)
    with torch.no_grad():
        layer.weight_hh_l0[0, 0] = float("nan")
    assert torch.isnan(fused_rnn.forward(layer, x, h0)[0]).any()


def test_the_compiled_loops_run_where_built_and_take_float32_only() -> None:
    if native.kernels() is None:
        pytest.skip("the compiled CPU kernels are not built here (python -m lab.models.native)")
    assert fused_rnn._compiled(torch.zeros(2)) is native.kernels()
    assert fused_rnn._compiled(torch.zeros(2, dtype=torch.float64)) is None  # the Python loops
    assert native.status().startswith("compiled CPU kernels (")


def test_without_a_build_the_python_loops_run(tmp_path, monkeypatch) -> None:
    """Nothing built (or a damaged build) under the kernels folder: None, and ``d2l-lab
    devices`` says how to build them; the name of a build says what it was built for."""
    monkeypatch.setenv("D2L_LAB_KERNELS", str(tmp_path))
    native.kernels.cache_clear()
    try:
        assert paths.kernels_cache() == tmp_path
        assert native.kernels() is None
        assert "python -m lab.models.native" in native.status()
        library = tmp_path / native.name() / f"{native.name()}.so"
        library.parent.mkdir()
        library.write_bytes(b"not a shared library")
        native.kernels.cache_clear()
        assert native.kernels() is None
        monkeypatch.setattr(native, "CFLAGS", [*native.CFLAGS, "-DOTHER"])
        assert native.name() != library.stem  # other flags, another build
    finally:
        monkeypatch.undo()
        native.kernels.cache_clear()


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("lookup", [False, True])
def test_gradcheck_of_the_recurrences(cell, lookup) -> None:
    """On the input projection itself, or on a table that token ids pick its rows from."""
    torch.manual_seed(2)
    gates = 1 if cell == "rnn" else 3

    def rand(*shape):
        return (torch.randn(*shape, dtype=torch.float64) * 0.7).requires_grad_(True)

    ids = torch.tensor([[0, 2, 2], [1, 0, 3], [3, 3, 1], [2, 0, 0]]) if lookup else None
    g = rand(4, 5 * gates) if lookup else rand(4, 3, 5 * gates)
    h0, w_hh, b_hh = rand(3, 5), rand(5 * gates, 5), rand(5 * gates)
    if cell == "rnn":
        assert torch.autograd.gradcheck(lambda *a: _RNNTanh.apply(a[0], ids, *a[1:]),
                                        (g, h0, w_hh))
    else:
        assert torch.autograd.gradcheck(lambda *a: _GRU.apply(a[0], ids, *a[1:]),
                                        (g, h0, w_hh, b_hh))


def test_gradcheck_of_a_deeper_layers_dense_input() -> None:
    torch.manual_seed(3)
    layer = nn.GRU(4, 3, num_layers=2).double()
    x = torch.randn(4, 2, 4, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h0: fused_rnn.forward(layer, x, h0), (x, h0))


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_the_state_carries_across_sequential_batches(loops, cell) -> None:
    """Two halves, the second starting from the first's final state, are the whole sequence;
    a state of None is the zero state."""
    layer, x, _ = layer_and_batch(cell, 2, torch.float32)
    net = RNNModel(FUSED[cell](28, 16, num_layers=2), 28)
    net.rnn.load_state_dict(layer.state_dict())
    X = x.T  # the model takes [batch, steps]
    Y_all, state_all = net(X)
    Y_1, state = net(X[:, :4])
    Y_2, state = net(X[:, 4:], state.detach())
    torch.testing.assert_close(torch.cat((Y_1, Y_2)), Y_all)
    torch.testing.assert_close(state, state_all)
    torch.testing.assert_close(net(X, net.begin_state(5, "cpu"))[0], Y_all)
    torch.testing.assert_close(state_all, torch_layer(layer, x, torch.zeros(2, 5, 16))[1],
                               rtol=0, atol=1e-5)


def test_the_model_takes_the_fast_path_only_where_it_applies() -> None:
    assert fused_rnn.supports(nn.RNN(28, 8), torch.zeros(3, 2, dtype=torch.long))
    assert fused_rnn.supports(nn.GRU(28, 8, num_layers=2), torch.zeros(3, 2, dtype=torch.long))
    for layer in (nn.LSTM(28, 8), nn.GRU(28, 8, bidirectional=True),
                  nn.RNN(28, 8, nonlinearity="relu"), nn.GRU(28, 8, bias=False),
                  nn.GRU(28, 8, batch_first=True)):
        assert not fused_rnn.supports(layer, torch.zeros(3, 2, dtype=torch.long)), layer
    assert fused_rnn.supports(nn.GRU(28, 8, num_layers=2, dropout=0.5), torch.zeros(3, 2, 28))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fused_rnn.supports(nn.RNN(28, 8), torch.zeros(3, 2, dtype=torch.long))
    # An LSTM and a bidirectional layer still run, through the torch layer.
    for net in (language_model("lstm", "concise", 28, 8),
                language_model("gru", "concise", 28, 8, bidirectional=True)):
        Y, _ = net(torch.randint(0, 28, (2, 3)))
        assert Y.shape == (6, 28)


@pytest.mark.parametrize("training", [True, False])
def test_dropout_between_layers_is_the_torch_layers_with_the_same_seed(loops, training) -> None:
    """Features in (the encoder–decoders' GRUs), dropout between layers in training: the same
    masks from the same seed, so the same outputs and gradients."""
    torch.manual_seed(4)
    ref = nn.GRU(6, 5, num_layers=3, dropout=0.5).train(training)
    ours = fused_rnn.GRU(6, 5, num_layers=3, dropout=0.5).train(training)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(7, 4, 6, requires_grad=True)
    h0 = torch.randn(3, 4, 5)
    results = []
    for layer in (ref, ours):
        torch.manual_seed(5)
        Y, state = layer(x, h0)
        (Y.sum() + state.square().sum()).backward()
        results.append((Y, state, x.grad.clone(), layer.weight_ih_l0.grad))
        x.grad = None
    for theirs, mine in zip(*results, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)
    torch.manual_seed(6)
    other, _ = ref(x, h0)
    assert training == (not torch.allclose(other, results[0][0]))  # masks really drawn


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_the_fast_layer_is_still_the_torch_layer(loops, cell) -> None:
    """Its class name, parameters and hooks are the torch layer's (the shapes table and
    checkpoints rely on them); features instead of token ids give what the torch layer does."""
    torch.manual_seed(5)
    net = language_model(cell, "concise", 28, 16, num_layers=2)
    layer = net.rnn
    assert isinstance(layer, LAYERS[cell]) and type(layer).__name__ == cell.upper()
    plain = LAYERS[cell](28, 16, num_layers=2)
    plain.load_state_dict(layer.state_dict())
    assert list(layer.state_dict()) == list(plain.state_dict())
    x, h0 = torch.randint(0, 28, (6, 3)), torch.randn(2, 3, 16)
    seen = []
    layer.register_forward_hook(lambda module, inputs, output: seen.append(output[0].shape))
    Y, state = layer(x, h0)
    assert seen == [(6, 3, 16)]
    Y_ref, state_ref = plain(F.one_hot(x, 28).float(), h0)
    torch.testing.assert_close(Y, Y_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(state, state_ref, rtol=0, atol=1e-5)
    features = torch.randn(6, 3, 28)
    torch.testing.assert_close(layer(features)[0], plain(features)[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(layer(x)[0], layer(x, torch.zeros(2, 3, 16))[0])  # hx=None


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_the_model_and_generation_equal_the_torch_layer_path(loops, cell, monkeypatch) -> None:
    torch.manual_seed(4)
    net = language_model(cell, "concise", 28, 32)
    X = torch.randint(0, 28, (4, 6))
    Y, state = net(X)
    text = predict("ab", 20, net, _Vocab(), "cpu")
    monkeypatch.setattr(fused_rnn, "supports", lambda *a: False)  # one_hot + the torch layer
    Y_ref, state_ref = net(X)
    torch.testing.assert_close(Y, Y_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(state, state_ref, rtol=0, atol=1e-5)
    assert predict("ab", 20, net, _Vocab(), "cpu") == text


class _Vocab:
    """28 tokens, one letter each: enough for predict."""

    idx_to_token = [chr(ord("a") + i) for i in range(26)] + [" ", "?"]

    def __getitem__(self, tokens):
        return [self.idx_to_token.index(t) for t in tokens]

    def to_tokens(self, indices):
        return [self.idx_to_token[i] for i in indices]


@pytest.mark.timeout(60)
def test_the_rnn_experiment_learns_as_with_the_torch_layer(loops, time_machine,
                                                           monkeypatch) -> None:
    """A few epochs of the tiny rnn experiment: the perplexity drops, and follows the torch
    layer's run with the same seed (float32 sums in another order: close, not equal)."""
    tiny = {"epochs": "6", "max_tokens": "3000", "batch_size": "8", "num_steps": "10",
            "num_hiddens": "48"}
    experiment = catalog.get("rnn")
    params = experiment.resolve("book", tiny)
    calls = []
    recur = _RNNTanh.apply
    monkeypatch.setattr(_RNNTanh, "apply", lambda *a: calls.append(1) or recur(*a))

    def perplexities() -> list[float]:
        events: list[Event] = []
        result = runner.run(experiment, params, seed=0, sinks=[events.append])
        assert result.status == FINISHED, result.reason
        return [e.metrics["perplexity"] for e in events if isinstance(e, EpochEnd)]

    fused = perplexities()
    assert len(calls) > 6 * 30  # every training batch took the fast path
    monkeypatch.setattr(fused_rnn, "supports", lambda *a: False)
    reference = perplexities()
    assert fused[-1] < 0.8 * fused[0]
    for ours, theirs in zip(fused, reference, strict=True):
        assert ours == pytest.approx(theirs, rel=1e-3)


@pytest.mark.timeout(60)
def test_a_failed_build_says_so_and_leaves_the_python_loops(tmp_path, monkeypatch, capsys):
    """No compiler (CXX points nowhere): ``python -m lab.models.native`` exits 1 saying it was
    not built, and the loops stay Python."""
    monkeypatch.setenv("D2L_LAB_KERNELS", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    native.kernels.cache_clear()
    try:
        assert native.main() == 1
        assert "compiled CPU kernels: not built" in capsys.readouterr().err
        assert native.kernels() is None
    finally:
        monkeypatch.undo()
        native.kernels.cache_clear()
