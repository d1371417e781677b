#!/bin/bash
# GPU check for scale-out (#8): the cuda paths of train-kws / train-gen under torchrun, resume, and what
# N ranks do on the GPUs present. Prints logs; writes only under /tmp.
#   bash benchmarks/gpu_check.sh [FSDD_RECORDINGS_DIR] [RANKS]
# On a 1-GPU machine RANKS=2 shows NCCL's refusal of two ranks on one device; on a 2-GPU machine it is
# the real nccl run (each rank on cuda:LOCAL_RANK).
FSDD=${1:-../shared/data/fsdd/recordings}
RANKS=${2:-2}
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'gpus', torch.cuda.device_count(), 'nccl', torch.cuda.nccl.version())"
TR="python3 -m torch.distributed.run --standalone --nproc_per_node"
K="--data $FSDD --holdout-speakers george --device cuda --no-eval --quiet --threads 4"
echo "== 1: train-kws --device cuda under torchrun (1 process), 2 epochs, resumable state every 20 steps"
t=$SECONDS; $TR 1 -m audio_rnn train-kws $K --epochs 2 --out /tmp/k1 --save-every 20 2>&1 | grep -v "it/s\]" | tail -6; echo "rc ${PIPESTATUS[0]} $((SECONDS-t)) s"
echo "== 2: resume it for a 3rd epoch"
t=$SECONDS; $TR 1 -m audio_rnn train-kws $K --epochs 3 --out /tmp/k1 --save-every 20 --resume 2>&1 | grep -v "it/s\]" | tail -4; echo "rc ${PIPESTATUS[0]} $((SECONDS-t)) s"
python3 -m audio_rnn classify --model /tmp/k1 "$FSDD/3_george_30.wav" "$FSDD/7_george_31.wav"
echo "== 3: train-gen --device cuda (single process): batches and carried state on the GPU"
t=$SECONDS; python3 -m audio_rnn train-gen --corpus README.md --device cuda --steps 80 --batch 32 --bptt 64 --out /tmp/g1 --quiet 2>&1 | tail -4; echo "rc ${PIPESTATUS[0]} $((SECONDS-t)) s"
python3 -m audio_rnn generate --model /tmp/g1 --length 120 --seed 1 2>&1 | tail -3
echo "== 4: train-gen --device cuda under torchrun (1 process)"
t=$SECONDS; $TR 1 -m audio_rnn train-gen --corpus README.md --device cuda --steps 40 --batch 32 --bptt 64 --out /tmp/g2 --quiet 2>&1 | tail -3; echo "rc ${PIPESTATUS[0]} $((SECONDS-t)) s"
echo "== 5: $RANKS ranks, nccl"
t=$SECONDS; timeout 300 $TR "$RANKS" -m audio_rnn train-kws $K --epochs 1 --out /tmp/k2 2>&1 | grep -i "nccl\|error\|duplicate\|processes\|saved" | head -12; echo "rc ${PIPESTATUS[0]} $((SECONDS-t)) s"
