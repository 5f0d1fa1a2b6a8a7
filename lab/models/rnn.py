"""Lectures 54–59's character language models: RNN, GRU and LSTM by hand, and the concise
``RNNModel`` around ``nn.RNN``/``nn.GRU``/``nn.LSTM``.

Every model maps token indices ``X`` [batch, num_steps] and a state to logits ``Y``
[num_steps·batch, vocab] (time-major, as the book's ``torch.cat(outputs, dim=0)``) and the new
state; ``begin_state(batch_size, device)`` is the zero state.

The scratch models keep the book's parameters (``W_xh``, ``W_hh``, ``b_h``, … with
``randn·0.01`` weights and zero biases) and its equations, computed faster in two ways that do
not change the math:

* the book multiplies a one-hot row by ``W_xh``; ``one_hot(x) @ W_xh`` *is* row ``x`` of
  ``W_xh`` (one product by 1, the others by 0), so the lab gathers rows, ``W_xh[X]``, and does it
  for every time step at once before the recurrence: only ``H @ W_hh`` stays in the loop;
* gates that multiply the same ``H`` (GRU's update and reset gates, LSTM's four) share one matrix
  product with their weights side by side, then split the columns; the output layer
  ``H @ W_hq + b_q`` runs once over all time steps after the loop.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.models import fused_rnn

State = torch.Tensor | tuple[torch.Tensor, ...]
VOCAB_SIZE = 28  # the time machine's characters: <unk>, space and a–z
CELLS = ("rnn", "gru", "lstm")


def _normal(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape) * 0.01)


def _zeros(n: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(n))


class ScratchLM(nn.Module):
    """What the three scratch models share: the output layer, the zero state, and the forward
    pass around a cell's ``recur`` (which returns every step's H and the final state)."""

    num_states = 1  # H; the LSTM also carries its memory C

    def __init__(self, vocab_size: int, num_hiddens: int):
        super().__init__()
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.W_hq = _normal(num_hiddens, vocab_size)
        self.b_q = _zeros(vocab_size)

    def begin_state(self, batch_size: int, device: torch.device | str) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros((batch_size, self.num_hiddens), device=device)
                     for _ in range(self.num_states))

    def forward(self, X: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        X = X.long().T  # [num_steps, batch]: the book's F.one_hot(X.T, vocab) without the one-hot
        if state is None:
            state = self.begin_state(X.shape[1], X.device)
        Hs, state = self.recur(X, state)
        return Hs.reshape(-1, self.num_hiddens) @ self.W_hq + self.b_q, state

    def recur(self, X: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        raise NotImplementedError


class RNNScratch(ScratchLM):
    """Lecture 54: ``H = tanh(X W_xh + H W_hh + b_h)``, ``Y = H W_hq + b_q``."""

    def __init__(self, vocab_size: int, num_hiddens: int):
        super().__init__(vocab_size, num_hiddens)
        self.W_xh = _normal(vocab_size, num_hiddens)
        self.W_hh = _normal(num_hiddens, num_hiddens)
        self.b_h = _zeros(num_hiddens)

    def recur(self, X, state):
        (H,) = state
        XW = self.W_xh[X] + self.b_h  # = one_hot(X) @ W_xh + b_h for all steps: [steps, batch, h]
        outputs = []
        for xw in XW:
            H = torch.tanh(torch.addmm(xw, H, self.W_hh))  # xw + H @ W_hh
            outputs.append(H)
        return torch.stack(outputs), (H,)


class GRUScratch(ScratchLM):
    """Lecture 56: update gate Z, reset gate R, candidate H̃ = tanh(X W_xh + (R ⊙ H) W_hh + b_h),
    and H = Z ⊙ H + (1 − Z) ⊙ H̃."""

    def __init__(self, vocab_size: int, num_hiddens: int):
        super().__init__(vocab_size, num_hiddens)
        for gate in ("z", "r", "h"):  # update gate, reset gate, candidate state
            setattr(self, f"W_x{gate}", _normal(vocab_size, num_hiddens))
            setattr(self, f"W_h{gate}", _normal(num_hiddens, num_hiddens))
            setattr(self, f"b_{gate}", _zeros(num_hiddens))

    def recur(self, X, state):
        (H,) = state
        # Z and R both read X and H: their weights side by side give both in one product.
        XZR = torch.cat((self.W_xz, self.W_xr), 1)[X] + torch.cat((self.b_z, self.b_r))
        XH = self.W_xh[X] + self.b_h
        W_hzr = torch.cat((self.W_hz, self.W_hr), 1)
        outputs = []
        for xzr, xh in zip(XZR, XH, strict=True):
            Z, R = torch.sigmoid(torch.addmm(xzr, H, W_hzr)).chunk(2, dim=1)
            H_tilda = torch.tanh(torch.addmm(xh, R * H, self.W_hh))
            H = Z * H + (1 - Z) * H_tilda
            outputs.append(H)
        return torch.stack(outputs), (H,)


class LSTMScratch(ScratchLM):
    """Lecture 57: input, forget and output gates I, F, O, candidate memory C̃;
    C = F ⊙ C + I ⊙ C̃ and H = O ⊙ tanh(C). The state is (H, C)."""

    num_states = 2

    def __init__(self, vocab_size: int, num_hiddens: int):
        super().__init__(vocab_size, num_hiddens)
        for gate in ("i", "f", "o", "c"):  # input, forget, output gates; candidate memory
            setattr(self, f"W_x{gate}", _normal(vocab_size, num_hiddens))
            setattr(self, f"W_h{gate}", _normal(num_hiddens, num_hiddens))
            setattr(self, f"b_{gate}", _zeros(num_hiddens))

    def recur(self, X, state):
        H, C = state
        h = self.num_hiddens
        gates = ("i", "f", "o", "c")
        W_x = torch.cat([getattr(self, f"W_x{g}") for g in gates], 1)
        W_h = torch.cat([getattr(self, f"W_h{g}") for g in gates], 1)
        XW = W_x[X] + torch.cat([getattr(self, f"b_{g}") for g in gates])  # [steps, batch, 4h]
        outputs = []
        for xw in XW:
            pre = torch.addmm(xw, H, W_h)  # the four gates' X W_x· + H W_h· + b_·
            I, F, O = torch.sigmoid(pre[:, :3 * h]).chunk(3, dim=1)  # noqa: E741 (the book's)
            C_tilda = torch.tanh(pre[:, 3 * h:])
            C = F * C + I * C_tilda
            H = O * torch.tanh(C)
            outputs.append(H)
        return torch.stack(outputs), (H, C)


SCRATCH = {"rnn": RNNScratch, "gru": GRUScratch, "lstm": LSTMScratch}
LAYERS = {"rnn": fused_rnn.RNN, "gru": fused_rnn.GRU, "lstm": nn.LSTM}


class RNNModel(nn.Module):
    """The book's concise model: a torch recurrent layer on one-hot inputs, then
    ``Linear(num_hiddens · directions, vocab)`` on every step's output. On the CPU, torch's
    layers record a handful of autograd operations per time step, which cost about as much as
    the small products; the RNN and GRU layers of ``language_model`` (``fused_rnn``) take the
    token ids and compute the same function from the same parameters as one operation per layer,
    whose backward pass sums the weight gradients over all steps at once."""

    def __init__(self, rnn_layer: nn.RNNBase, vocab_size: int):
        super().__init__()
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = rnn_layer.hidden_size
        self.num_directions = 2 if rnn_layer.bidirectional else 1
        self.linear = nn.Linear(self.num_hiddens * self.num_directions, vocab_size)

    def forward(self, inputs: torch.Tensor,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        X = inputs.T.long()
        if state is None:
            state = self.begin_state(X.shape[1], X.device)
        if not isinstance(self.rnn, fused_rnn.TokenLayer):  # it takes the one-hot vectors
            X = nn.functional.one_hot(X, self.vocab_size).to(torch.float32)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape(-1, Y.shape[-1])), state

    def begin_state(self, batch_size: int, device: torch.device | str) -> State:
        shape = (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens)
        if isinstance(self.rnn, nn.LSTM):
            return torch.zeros(shape, device=device), torch.zeros(shape, device=device)
        return torch.zeros(shape, device=device)


def language_model(cell: str, impl: str, vocab_size: int, num_hiddens: int,
                   num_layers: int = 1, bidirectional: bool = False) -> nn.Module:
    """The network of an experiment: ``cell`` rnn | gru | lstm, ``impl`` scratch | concise."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, not {cell!r}")
    if impl == "scratch":
        if num_layers != 1 or bidirectional:
            raise ValueError("the scratch models have one layer and one direction")
        return SCRATCH[cell](vocab_size, num_hiddens)
    layer = LAYERS[cell](vocab_size, num_hiddens, num_layers=num_layers,
                         bidirectional=bidirectional)
    return RNNModel(layer, vocab_size)


def detach(state: State) -> State:
    """The state without its history: sequential batches carry it, but not its gradient."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
