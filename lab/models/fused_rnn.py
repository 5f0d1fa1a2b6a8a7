"""``nn.RNN`` (tanh) and ``nn.GRU`` on the CPU, the same function with far fewer operations.

On the CPU, torch runs a recurrent layer one time step at a time through autograd: every step
records its nodes (the ``H W_hh`` product, the sum, the nonlinearity), and the backward pass
replays them one by one, a weight-gradient product per step included. For the book's small
matrices (32 × 256) that bookkeeping costs about as much as the arithmetic. Here each layer's
recurrence is one ``torch.autograd.Function`` that computes what the layer computes, with its
parameters (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, …), but:

* the input projection of all steps is one operation before the loop; for token ids it is a row
  lookup (a one-hot vector times ``W_ih^T`` picks one of its rows), straight into the loop's
  buffers;
* the forward loop does only what depends on the previous step, into preallocated buffers,
  without recording anything;
* the backward loop carries only the state's gradient back through time; the gradients of
  ``W_hh`` and the biases, sums over all steps, are then one product and one sum;
* tanh is computed as 2σ(2a) − 1, the same function: torch's CPU sigmoid is several times
  faster than its tanh;
* where built (lab/models/native.py), the time loops are rnn_loops.cpp's, compiled for the
  machine: each step is its matrix product and then one pass over its elements, where the
  Python loops below make four or five torch calls (about 10% of a step on the book's shapes).
  The same arithmetic, float32 only; float64 (the gradient checks) takes the Python loops.

``RNN`` and ``GRU`` are ``nn.RNN`` and ``nn.GRU`` that also take token ids and use ``forward``
where ``supports`` says it applies (CPU, one direction, tanh RNN or GRU, time-major, no
autocast); elsewhere, as on CUDA where cuDNN fuses the whole layer, the torch layer runs.
Dropout between layers is torch's own ``F.dropout`` on the same outputs, so a seed draws the
same masks as in the torch layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from lab.models import native

MODES = ("RNN_TANH", "GRU")


class TokenLayer:
    """A torch recurrent layer that also takes token ids [steps, batch] for one-hot inputs: on
    the CPU it runs ``forward`` below on ids or features [steps, batch, size], elsewhere the
    torch layer (on ``one_hot(ids)``). It is still the torch layer: the same class name,
    parameters, ``state_dict`` and hooks."""

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None):
        if supports(self, input):
            if hx is None:
                hx = self.weight_hh_l0.new_zeros(self.num_layers, input.shape[1],
                                                 self.hidden_size)
            return forward(self, input, hx)
        if input.dtype == torch.long:
            input = F.one_hot(input, self.input_size).to(self.weight_hh_l0.dtype)
        return super().forward(input, hx)


class RNN(TokenLayer, nn.RNN):
    """``nn.RNN`` that takes token ids too (see ``TokenLayer``)."""


class GRU(TokenLayer, nn.GRU):
    """``nn.GRU`` that takes token ids too (see ``TokenLayer``)."""


def supports(layer: nn.RNNBase, x: torch.Tensor) -> bool:
    """Whether ``forward`` computes what ``layer`` would for this input, faster."""
    return (x.device.type == "cpu" and layer.mode in MODES and not layer.bidirectional
            and layer.bias and not layer.batch_first
            and not torch.is_autocast_enabled("cpu"))


def forward(layer: nn.RNNBase, x: torch.Tensor,
            state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``layer(one_hot(x), state)`` for token ids ``x`` [steps, batch] (or ``layer(x, state)``
    for features [steps, batch, size]): every step's top-layer output and the new state."""
    rnn = layer.mode == "RNN_TANH"
    finals = []
    for k in range(layer.num_layers):
        w_ih, w_hh, b_ih, b_hh = (getattr(layer, f"{name}_l{k}")
                                  for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        # The RNN adds both biases before the loop; the GRU's b_hn sits inside
        # r ⊙ (W_hn h + b_hn), so the loop takes b_hh.
        b = b_ih + b_hh if rnn else b_ih
        if x.dtype == torch.long:  # one_hot(x) @ W_ih^T + b is row x of W_ih^T + b: a lookup
            g, ids = (w_ih.t() + b).contiguous(), x  # rows in memory order: a fast gather
        else:
            g, ids = F.linear(x, w_ih, b), None
        x = (_RNNTanh.apply(g, ids, state[k], w_hh) if rnn
             else _GRU.apply(g, ids, state[k], w_hh, b_hh))
        finals.append(x[-1])
        if layer.training and layer.dropout and k < layer.num_layers - 1:
            x = F.dropout(x, layer.dropout, training=True)  # between layers, as torch's
    return x, torch.stack(finals)


def _compiled(x: torch.Tensor):
    """The compiled kernels (rnn_loops.cpp's loops) where built and they take ``x`` (float32),
    else None."""
    return native.kernels() if x.dtype == torch.float32 else None


def _as_rows(g: torch.Tensor, ids: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """What rnn_loops.cpp takes: ``g`` as rows [R, k], and the row each (step, sequence)
    takes [steps, batch]: the table and the ids themselves, or one row each."""
    if ids is not None:
        return g, ids.contiguous()
    steps, batch = g.shape[:2]
    return g.reshape(steps * batch, -1), torch.arange(steps * batch).view(steps, batch)


def _pick(g: torch.Tensor, ids: torch.Tensor | None,
          out: torch.Tensor | None = None) -> torch.Tensor:
    """``g`` [steps, batch, k] itself; with token ids, the rows of the table ``g`` [vocab, k]
    that they pick, [steps, batch, k]; into ``out`` if given. The loops' buffers are looked up
    straight from the table: an embedding output, megabytes written once and read once, costs
    more than the lookup."""
    if ids is None:
        return g if out is None else out.copy_(g)
    if out is None:
        return g.index_select(0, ids.reshape(-1)).view(*ids.shape, -1)
    torch.index_select(g, 0, ids.reshape(-1), out=out.view(-1, g.shape[-1]))
    return out


def _unpick(dg: torch.Tensor, ids: torch.Tensor | None, rows: int) -> torch.Tensor:
    """The gradient of ``_pick``'s ``g`` from that of what it returned: a table row's is the
    sum over the places that picked it."""
    if ids is None:
        return dg
    return dg.new_zeros(rows, dg.shape[-1]).index_add_(0, ids.reshape(-1),
                                                       dg.reshape(-1, dg.shape[-1]))


def _tanh_(a: torch.Tensor, minus_one: torch.Tensor) -> torch.Tensor:
    """tanh(a/2) in place, as 2σ(a) − 1: the same function, and torch's CPU sigmoid is several
    times faster than its tanh (which the book's layer pays at every step). ``minus_one`` is a
    tensor: a Python number costs a conversion at every call."""
    return torch.add(minus_one, a.sigmoid_(), alpha=2, out=a)


class _RNNTanh(torch.autograd.Function):
    """``h_t = tanh(g_t + h_{t-1} W_hh^T)`` for all t, with ``g`` the input projection plus
    both biases [steps, batch, hidden] (or its table, see ``_pick``); returns every ``h_t``.
    rnn_loops.cpp's where built (lab/models/native.py), else the loops below."""

    @staticmethod
    def forward(ctx, g: torch.Tensor, ids: torch.Tensor | None, h0: torch.Tensor,
                w_hh: torch.Tensor) -> torch.Tensor:
        ctx.compiled = _compiled(g)
        if ctx.compiled:
            table, ctx.rows = _as_rows(g, ids)
            ctx.table_rows = len(table)
            Hx = ctx.compiled.rnn_tanh_forward(table, ctx.rows, h0, w_hh)
        else:
            # h0, h_1, …, h_T in one buffer: the backward pass reads h_{t-1} for all t as one
            # matrix. Each h_t starts as 2 g_t: the step adds 2 h W^T, then takes tanh(·/2).
            Hx = g.new_empty(len(g if ids is None else ids) + 1, *h0.shape)
            Hx[0] = h0
            _pick(g * 2, ids, out=Hx[1:])
            _rnn_steps(Hx, w_hh)
        ctx.save_for_backward(w_hh)
        ctx.Hx, ctx.ids, ctx.g_shape = Hx, ids, g.shape
        return Hx[1:]

    @staticmethod
    @once_differentiable  # in-place arithmetic on saved buffers: no second derivative
    def backward(ctx, dH: torch.Tensor):
        (w_hh,), Hx, need_h0 = ctx.saved_tensors, ctx.Hx, ctx.needs_input_grad[2]
        if ctx.compiled:
            dg, dw_hh, dh0 = ctx.compiled.rnn_tanh_backward(Hx, dH, ctx.rows, ctx.table_rows,
                                                            w_hh, need_h0)
            return dg.view(ctx.g_shape), None, dh0, dw_hh
        dZ, dw_hh, dh0 = _rnn_steps_back(Hx, dH, w_hh, need_h0)
        return _unpick(dZ, ctx.ids, ctx.g_shape[0]), None, dh0, dw_hh


def _rnn_steps(Hx: torch.Tensor, w_hh: torch.Tensor) -> None:
    """The forward loop. Each step's views come from ``unbind`` (one call) rather than by
    indexing (one call per view and step)."""
    w, minus_one, Hs = w_hh.t(), Hx.new_tensor(-1.0), Hx.unbind(0)
    for t in range(len(Hx) - 1):
        _tanh_(Hs[t + 1].addmm_(Hs[t], w, alpha=2), minus_one)


def _rnn_steps_back(Hx: torch.Tensor, dH: torch.Tensor, w_hh: torch.Tensor,
                    need_h0: bool) -> tuple[torch.Tensor, ...]:
    """The backward loop: dL/dz_t for all t (= dL/dg_t), dL/dW_hh, and dL/dh_0 if asked
    for."""
    H = Hx[1:]
    dZ = torch.addcmul(H.new_ones(()), H, H, value=-1)  # tanh' = 1 − h²; times dL/dh_t
    dZs, dHs = dZ.unbind(0), dH.unbind(0)
    carry = dHs[-1]  # dL/dh_t: from the output at t and from step t + 1
    for t in range(len(H) - 1, 0, -1):
        carry = torch.addmm(dHs[t - 1], dZs[t].mul_(carry), w_hh)
    dZs[0].mul_(carry)
    n_h = w_hh.shape[1]
    dw_hh = dZ.view(-1, n_h).t() @ Hx[:-1].reshape(-1, n_h)  # Σ_t dz_t^T h_{t-1}
    return dZ, dw_hh, dZs[0] @ w_hh if need_h0 else None


class _GRU(torch.autograd.Function):
    """PyTorch's GRU (gates in the order r, z, n): ``r, z = σ(g_rz + h W_hrz^T + b_hrz)``,
    ``n = tanh(g_n + r ⊙ (h W_hn^T + b_hn))``, ``h' = (1 − z) ⊙ n + z ⊙ h``, with ``g`` the
    input projection plus ``b_ih`` [steps, batch, 3·hidden] (or its table, see ``_pick``);
    returns every ``h_t``. rnn_loops.cpp's where built, else the loops below."""

    @staticmethod
    def forward(ctx, g: torch.Tensor, ids: torch.Tensor | None, h0: torch.Tensor,
                w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        ctx.compiled = _compiled(g)
        if ctx.compiled:
            table, ctx.rows = _as_rows(g, ids)
            ctx.table_rows = len(table)
            Hx, GH, N = ctx.compiled.gru_forward(table, ctx.rows, h0, w_hh, b_hh)
        else:
            Hx, GH, N = _gru_steps(g, ids, h0, w_hh, b_hh)
        ctx.save_for_backward(w_hh)
        ctx.buffers, ctx.ids, ctx.g_shape = (Hx, GH, N), ids, g.shape
        return Hx[1:]

    @staticmethod
    @once_differentiable  # in-place arithmetic on saved buffers: no second derivative
    def backward(ctx, dH: torch.Tensor):
        (w_hh,), (Hx, GH, N), need_h0 = ctx.saved_tensors, ctx.buffers, ctx.needs_input_grad[2]
        if ctx.compiled:
            dg, dw_hh, db_hh, dh0 = ctx.compiled.gru_backward(GH, N, Hx, dH, ctx.rows,
                                                              ctx.table_rows, w_hh, need_h0)
            return dg.view(ctx.g_shape), None, dh0, dw_hh, db_hh
        dg, dw_hh, db_hh, dh0 = _gru_steps_back(GH, N, Hx, dH, w_hh, need_h0)
        return _unpick(dg, ctx.ids, ctx.g_shape[0]), None, dh0, dw_hh, db_hh


def _gru_steps(g: torch.Tensor, ids: torch.Tensor | None, h0: torch.Tensor, w_hh: torch.Tensor,
               b_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The forward loop: h_0, …, h_T, and for backward GH (r, z and h W_hn^T + b_hn) and N
    (n). Each step adds h W_hh^T to its GH_t in place, whose columns become r and z (from
    their pre-activations, g + b_hh + h W_h·^T) and h W_hn^T + b_hn; and turns its N_t,
    2 g_n at first, into 2 g_n + 2 r ⊙ (h W_hn^T + b_hn), then n: tanh(a) is 2σ(2a) − 1."""
    n_h = w_hh.shape[1]
    b_n = b_hh[2 * n_h:].expand(*g.shape[:-1], n_h)
    GH = _pick(torch.cat((g[..., :2 * n_h] + b_hh[:2 * n_h], b_n), dim=-1), ids)
    N = _pick(g[..., 2 * n_h:] * 2, ids)
    Hx = g.new_empty(len(N) + 1, *h0.shape)  # h0, h_1, …, h_T, as _RNNTanh's
    Hx[0] = h0
    w, minus_one = w_hh.t(), N.new_tensor(-1.0)
    GHs, RZs, Rs, Zs, GHns, Ns, Hs = (
        x.unbind(0) for x in (GH, GH[..., :2 * n_h], *_gates(GH, n_h), N, Hx))
    for t in range(len(N)):
        GHs[t].addmm_(Hs[t], w)
        RZs[t].sigmoid_()
        n = _tanh_(Ns[t].addcmul_(Rs[t], GHns[t], value=2), minus_one)
        torch.lerp(n, Hs[t], Zs[t], out=Hs[t + 1])  # (1 − z) ⊙ n + z ⊙ h
    return Hx, GH, N


def _gru_steps_back(GH: torch.Tensor, N: torch.Tensor, Hx: torch.Tensor, dH: torch.Tensor,
                    w_hh: torch.Tensor, need_h0: bool) -> tuple[torch.Tensor, ...]:
    """The backward loop: dL/dg [steps, batch, 3·hidden], dL/dW_hh, dL/db_hh, and dL/dh_0 if
    asked for."""
    steps, batch, n_h = N.shape
    H_prev = Hx[:-1]
    r, z, gh_n = _gates(GH, n_h)
    # What does not depend on the incoming gradient, for all steps at once: dL/dh_t times
    # M_t is dL/d(h W_hh^T + b_hh), gate by gate; times A_n, dL/dg_n. Written into M and
    # dh (which the loop fills later) rather than into temporaries: fresh megabytes cost.
    M = N.new_empty(steps, batch, 3 * n_h)
    M_r, M_z, M_n = _gates(M, n_h)
    dh = torch.empty_like(N)  # dL/dh_t in full: from the output at t and from step t + 1
    torch.sub(N.new_ones(()), z, out=M_z)  # 1 − z
    A_n = torch.addcmul(N.new_ones(()), N, N, value=-1).mul_(M_z)  # (1 − n²)(1 − z)
    M_z.mul_(z).mul_(torch.sub(H_prev, N, out=dh))  # through z: σ' = z(1 − z)
    torch.addcmul(r, r, r, value=-1, out=M_r).mul_(gh_n).mul_(A_n)  # through r, likewise
    torch.mul(A_n, r, out=M_n)  # h W_hn^T + b_hn, through r ⊙ ·
    dh[-1] = dH[-1]
    Ms, M3s = M.unbind(0), M.view(steps, batch, 3, n_h).unbind(0)
    dhs, dh1s, dHs, Zs = dh.unbind(0), dh.unsqueeze(2).unbind(0), dH.unbind(0), z.unbind(0)
    for t in range(steps - 1, 0, -1):
        M3s[t].mul_(dh1s[t])  # the three gates' gradients from dL/dh_t
        torch.addcmul(dHs[t - 1], dhs[t], Zs[t], out=dhs[t - 1]).addmm_(Ms[t], w_hh)
    M3s[0].mul_(dh1s[0])
    dh0 = torch.addmm(dhs[0] * Zs[0], Ms[0], w_hh) if need_h0 else None
    dw_hh = M.view(-1, 3 * n_h).t() @ H_prev.reshape(-1, n_h)  # Σ_t m_t^T h_{t-1}
    db_hh = M.sum((0, 1))
    torch.mul(dh, A_n, out=M_n)  # M becomes dL/dg: its r and z columns already are
    return M, dw_hh, db_hh, dh0


def _gates(X: torch.Tensor, n_h: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The r, z and n columns of [steps, batch, 3·hidden]."""
    return X[..., :n_h], X[..., n_h:2 * n_h], X[..., 2 * n_h:]
