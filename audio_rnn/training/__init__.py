"""Training infrastructure shared by every trainer.

`loop` is the one training loop (`fit`) that every trainer runs as a `Task`
with a config extending `RunConfig`; `registry` names the models and types
their checkpoint sections; `checkpoint` saves and loads models as safetensors
+ JSON (never pickle) and finds the shipped ones; `resume` keeps a resumable
training state (weights, optimiser, RNGs, position in the epoch);
`distributed` runs the same trainers under torchrun/DDP. This package imports
no capability.
"""
