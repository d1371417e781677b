"""RNN, LSTM and GRU written from scratch in numpy.

`cells` holds the cells with hand-written BPTT, Adam, a toy character model
and the gradient checks against finite differences and torch (`gradcheck`);
`gradflow` uses the cells to measure how gradients flow back in time
(`gradflow`). No torch needed except for the comparisons.
"""
