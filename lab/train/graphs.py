"""A training step replayed as one CUDA graph.

On CUDA a small network's step (LeNet: ~100 kernels of a few microseconds each) costs more in
Python and kernel launches than in arithmetic. Captured once as a CUDA graph, the whole step
(gather the batch, forward, loss, backward, update) is one launch. The arithmetic is the same:
the graph replays the very kernels the eager step ran, on the same parameters, in place.

The rules capture imposes, and how they are kept:
- the step's inputs live at fixed addresses: each batch's indices are copied into one buffer;
- warm-up steps run before capture, on the stream the graph is captured on (cuDNN's benchmark,
  cuBLAS's workspace and the allocator settle there); they are real training steps, on the
  run's first batches;
- a data-parallel step (DistributedDataParallel, NCCL) is captured with its all-reduces: DDP is
  built on that same stream (its gradient hooks keep the stream they were made on) and
  trains DDP_WARMUP_STEPS eager steps first, as PyTorch's CUDA-graph notes ask;
- only full batches are replayed; another size (an epoch's last batch) runs eagerly;
- the outputs are overwritten by the next replay, so callers use them before the next step
  (fit_classifier adds them to the epoch's sums at once, on the same stream);
- modules update their buffers in place (lab.models.cnn.BatchNorm), never rebinding them.
A step that cannot be captured (a host sync inside it) runs eagerly, and the run says so.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Step = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]  # batch indices -> detached outputs

WARMUP_STEPS = 3  # PyTorch's own examples use 3; cudnn.benchmark tries its algorithms on the first
# DistributedDataParallel settles over its first steps (it rebuilds its buckets in the order the
# gradients arrive, and static_graph learns the graph): PyTorch's notes ask for 11 before capture.
DDP_WARMUP_STEPS = 11


class GraphedStep:
    """Calls ``step(indices)``: eagerly at first, then as a captured graph for full batches."""

    def __init__(self, step: Step, batch_size: int, note: Callable[[str], None],
                 warmup: int = WARMUP_STEPS, stream: torch.cuda.Stream | None = None):
        """``stream``: where warm-up and capture run (a new side stream by default); a model
        whose autograd hooks were made on a stream (DDP) passes that one."""
        self.step, self.batch_size, self.note = step, batch_size, note
        self.warmup, self.stream = warmup, stream or torch.cuda.Stream()
        self.warmed = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.indices: torch.Tensor | None = None  # the captured step's input
        self.outputs: tuple[torch.Tensor, ...] = ()  # ... and its outputs, in the graph's memory
        self.eager = False  # capture failed: every step runs eagerly

    def __call__(self, indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.eager or len(indices) != self.batch_size:
            return self.step(indices)
        if self.graph is None:
            if self.warmed < self.warmup:
                self.warmed += 1
                return self._on_side_stream(indices)
            return self._capture(indices)
        self.indices.copy_(indices)
        self.graph.replay()
        return self.outputs

    def _on_side_stream(self, indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
        main = torch.cuda.current_stream()
        self.stream.wait_stream(main)
        with torch.cuda.stream(self.stream):
            outputs = self.step(indices)
        main.wait_stream(self.stream)
        return outputs

    def _capture(self, indices: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self.indices = indices.clone()
        graph = torch.cuda.CUDAGraph()
        try:
            # thread_local: a CUDA call from another thread (not this step's) is no error
            with torch.cuda.graph(graph, stream=self.stream, capture_error_mode="thread_local"):
                self.outputs = self.step(self.indices)
        except RuntimeError as e:  # e.g. "operation not permitted when stream is capturing"
            self.eager, self.outputs = True, ()
            self.note(f"CUDA graphs off, training eagerly: this step cannot be captured ({e})")
            return self.step(indices)
        self.graph = graph
        self.note(f"each training step of {self.batch_size} examples now replays as one CUDA "
                  f"graph (captured after {self.warmup} eager steps)")
        graph.replay()  # capture only records: this batch is trained now
        return self.outputs
