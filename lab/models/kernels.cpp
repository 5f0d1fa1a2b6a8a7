// The lab's compiled kernels as one Python module (lab/models/native.py builds it): the time loops
// of the recurrent layers (rnn_loops.cpp), dropout (dropout.cpp), the attention's masked
// softmax (masked_softmax.cpp) and LeNet's pooling (avg_pool.cpp).

#include <torch/extension.h>

void bind_rnn_loops(pybind11::module_& m);
void bind_dropout(pybind11::module_& m);
void bind_masked_softmax(pybind11::module_& m);
void bind_avg_pool(pybind11::module_& m);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  bind_rnn_loops(m);
  bind_dropout(m);
  bind_masked_softmax(m);
  bind_avg_pool(m);
}
