"""RNN, LSTM and GRU written from scratch in numpy.

`cells` holds the cells with hand-written BPTT and the optimiser pieces;
`torch_bridge` copies weights to and from torch and replays a torch module
in numpy (`trace`); `gradcheck` checks the BPTT against finite differences
and torch (the `gradcheck` command); `char_demo` trains a tiny character
model with the cells; `gradflow` measures how gradients flow back in time
(`gradflow`). torch is needed only for the comparisons.
"""
