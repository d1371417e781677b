"""Training infrastructure shared by every trainer.

`checkpoint` saves and loads models as safetensors + JSON (never pickle) and
finds the shipped models in `audio_rnn/pretrained/`; `resume` keeps a
resumable training state (weights, optimiser, RNGs, sampler position);
`distributed` runs the same trainers under torchrun/DDP. This package
imports no capability.
"""
