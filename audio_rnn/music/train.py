"""`train-gen`: train the character model with truncated BPTT.

The training text is cut into `batch` parallel streams; each step reads the
next `bptt` characters of every stream, starting from the hidden state the
previous chunk ended with (detached: truncated backprop). Gradient clipping,
AdamW with linear warm-up then cosine decay, a seed, and the best checkpoint
by validation bits/char. Tunes are reshuffled every epoch; for the ABC corpus a
`header_aug` share of them is shown each epoch with its transcriber's header
(Z:, N:, S:... fields, `X: 1` spacing) or a randomly varied header style, so
other collections' headers are not surprises (validation stays normalised).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from audio_rnn.errors import CorpusError
from audio_rnn.training.loop import RunConfig, Task, add_run_flags, config_from_args, fit

LN2 = math.log(2.0)
EVAL_CHARS = 60_000


@dataclass(frozen=True)
class TrainGenConfig(RunConfig):
    """The run (`RunConfig`), the network's size and the corpus; saved in the checkpoint."""

    epochs: float = 3.0
    lr: float = 5e-3
    corpus: str = "abc"
    cell: str = "lstm"
    embed: int = 64
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.0  # the shipped model sees < 3 epochs: nothing to regularise yet
    batch: int = 32
    bptt: int = 64
    steps: int = 0  # > 0 overrides epochs
    warmup: int = 100
    clip: float = 1.0
    min_count: int = 2
    eval_every: int = 400
    header_aug: float = 0.4  # share of ABC training tunes shown in a raw/varied header style (val/test stay normalised)
    init: str = ""  # a charlm checkpoint to start from (its weights, size and vocabulary): a fine-tune
    weight: str = ""  # "oneills1850,ryansMammoth=4": train tunes from these collections shown 4 times an epoch
    select_from: str = ""  # "oneills1850,airdsAirs": choose the best checkpoint on these collections' val tunes only


def streams(ids: np.ndarray, batch: int) -> "torch.Tensor":
    """Reshape one long id sequence into (batch, length) parallel streams."""
    import torch

    length = len(ids) // batch
    if length < 2:
        raise CorpusError(f"corpus too small: {len(ids)} characters for {batch} streams")
    return torch.from_numpy(ids[: batch * length].reshape(batch, length).copy())


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up, then cosine decay to 5% of the base rate."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def parse_weight(spec: str) -> tuple[tuple[str, ...], int]:
    """'a,b=4' -> (('a', 'b'), 4): collections whose folder name contains a or b, shown 4 times an epoch."""
    if not spec:
        return (), 1
    names, _, times = spec.partition("=")
    try:
        k = int(times or 2)
    except ValueError:
        raise CorpusError(f"--weight must look like 'name,name=K', not {spec!r}") from None
    if k < 1:
        raise CorpusError("--weight: K must be at least 1")
    return tuple(n.strip() for n in names.split(",") if n.strip()), k


def training_docs(corpus, rng: random.Random, header_aug: float, weight: str = "") -> list[str]:
    """One epoch's training documents: shuffled; for ABC, a `header_aug` share shown in a raw/varied header style.

    With `weight` the tunes of the named collections appear that many times (see `parse_weight`).
    """
    from audio_rnn.music.corpus import augment_tune

    raws = corpus.train_raw if len(corpus.train_raw) == len(corpus.train) else [None] * len(corpus.train)
    docs = list(zip(corpus.train, raws))
    names, times = parse_weight(weight)
    if names and len(corpus.train_from) == len(corpus.train):
        docs += [d for d, src in zip(docs, corpus.train_from) if any(n in src for n in names)] * (times - 1)
    rng.shuffle(docs)
    if corpus.source != "abc" or header_aug <= 0:
        return [t for t, _ in docs]
    return [augment_tune(t, r, rng, header_aug) for t, r in docs]


def evaluate_bpc(model, ids: np.ndarray, batch: int = 16, bptt: int = 256) -> float:
    """Bits per character over `ids` read as `batch` streams with the state carried along."""
    import torch
    import torch.nn.functional as F

    batch = max(1, min(batch, len(ids) // (bptt + 1) or 1))
    data = streams(ids, batch).to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.inference_mode():
        for i in range(0, data.shape[1] - 1, bptt):
            x = data[:, i : i + bptt]
            y = data[:, i + 1 : i + 1 + bptt]
            x = x[:, : y.shape[1]]
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    model.train(was_training)
    return total / max(1, count) / LN2


def set_dropout(model, p: float) -> None:
    """Change a CharLM's dropout in place (between layers and around the recurrent stack); saved in its dims."""
    model.dims.dropout = p
    model.drop.p = p
    if model.dims.layers > 1:
        model.rnn.dropout = p


def _state_to(state: Any, dev: "torch.device") -> Any:
    """A carried hidden state (tensor, tuple of tensors or None) on `dev`."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.to(dev) for s in state)
    return state.to(dev)


def train(cfg: TrainGenConfig, out: str | Path, progress: bool = True, log=print, save_every: int = 0,
          resume: bool = False) -> dict[str, Any]:
    """Train, keep the best checkpoint by validation bits/char in `out`; returns the run's figures.

    Under torchrun each rank trains on its share of the parallel streams (DDP: the global batch stays
    `batch`); rank 0 evaluates, logs and saves. `save_every` > 0 writes a resumable state (weights,
    optimizer, RNGs, every rank's carried hidden state) to out/resume; `resume` continues from it.
    """
    task = _GenTask(cfg, Path(out), log)
    fitted = fit(task, task.cfg, out, save_every=save_every, resume=resume, progress=progress)
    return task.finish(fitted)


def split_seed(cfg: TrainGenConfig) -> int:
    """The seed of the corpus split: a fine-tune keeps its base model's, so no validation tune was ever trained on
    (another --seed only changes the shuffles and dropout)."""
    if not cfg.init:
        return cfg.seed
    from audio_rnn.training.checkpoint import load_config

    return int((load_config(cfg.init, "charlm").get("corpus") or {}).get("seed", cfg.seed))


def _build(cfg: TrainGenConfig, corpus, dev) -> tuple[Any, Any, TrainGenConfig]:
    """(model, vocabulary, config): a fresh model sized by `cfg`, or the `init` checkpoint (its size and
    vocabulary, written into the config)."""
    from audio_rnn.music.charrnn import CharLM, CharLMDims, load_model
    from audio_rnn.music.text import Vocab

    if cfg.init:
        model, vocab, _ = load_model(cfg.init)  # a fine-tune keeps the size and the vocabulary
        d = model.dims
        cfg = replace(cfg, cell=d.cell, embed=d.embed, hidden=d.hidden, layers=d.layers)
        set_dropout(model, cfg.dropout)  # regularising a fine-tune is this run's choice, not the base's
        return model.to(dev), vocab, cfg
    vocab = Vocab.build([corpus.text("train"), *corpus.train_raw], cfg.min_count)
    model = CharLM(CharLMDims(len(vocab), cfg.embed, cfg.hidden, cfg.layers, cfg.cell, cfg.dropout))
    return model.to(dev), vocab, cfg


class _GenTask(Task):
    """The character model for `fit`: reshuffled tunes as parallel streams, truncated-BPTT chunks with the
    hidden state carried, warm-up then cosine learning rate, and the best checkpoint by validation bits/char."""

    name = "train-gen"
    keep = "last"  # the best is saved to disk as it is found (a killed run keeps it)

    def __init__(self, cfg: TrainGenConfig, out: Path, log):
        import torch

        from audio_rnn.music.corpus import load_corpus
        from audio_rnn.training import distributed

        self.ctx = ctx = distributed.context()
        self.log = log if ctx.is_main else (lambda *a, **k: None)  # rank 0 logs
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.out, self.rng = out, random.Random(cfg.seed)
        self.corpus = load_corpus(cfg.corpus, seed=split_seed(cfg))
        if parse_weight(cfg.weight)[0] and len(self.corpus.train_from) != len(self.corpus.train):
            raise CorpusError("--weight needs the 'abc' corpus, which knows the collection of every tune")
        self.dev = ctx.device if ctx.is_distributed else torch.device(cfg.device)
        self.model, self.vocab, self.cfg = _build(cfg, self.corpus, self.dev)
        names = tuple(n.strip() for n in cfg.select_from.split(",") if n.strip())
        self.val_ids = self.vocab.encode("\n".join(self.corpus.from_collections("val", names)))
        self.net = distributed.wrap(self.model, ctx)
        if ctx.is_distributed:
            torch.manual_seed(cfg.seed + 1000 * ctx.rank)  # dropout masks differ per rank (weights came from rank 0)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.clip, self.eval_every = cfg.clip, cfg.eval_every
        self.data, self.hidden = None, None

    def rngs(self) -> dict[str, Any]:
        return {"shuffle": self.rng}

    def begin_epoch(self, epoch: int) -> None:
        self.hidden = None

    def batches(self, epoch: int) -> list[int]:
        """This epoch's documents as this rank's parallel streams (on the device); the chunk offsets."""
        import torch

        from audio_rnn.training import distributed

        docs = training_docs(self.corpus, self.rng, self.cfg.header_aug, self.cfg.weight)
        data = streams(self.vocab.encode("\n".join(docs) + "\n"), self.cfg.batch)
        self.data = data[distributed.shard(torch.arange(data.shape[0]), self.ctx)].to(self.dev)
        return list(range(0, self.data.shape[1] - self.cfg.bptt, self.cfg.bptt))

    def planned_steps(self, per_epoch: int, epochs: float) -> int:
        cfg = self.cfg
        total = cfg.steps if cfg.steps > 0 else max(1, int(round(epochs * per_epoch)))
        self.log(f"corpus {self.corpus.source}: {len(self.corpus.train)} train docs, "
                 f"{sum(map(len, self.corpus.train))} chars, vocabulary {len(self.vocab)}; {cfg.cell} "
                 f"{cfg.layers}x{cfg.hidden}, {self.model.param_count()} parameters; {total} steps "
                 f"({per_epoch}/epoch)")
        return total

    def loss(self, i: int, step: int, total: int) -> tuple[Any, float]:
        import torch.nn.functional as F

        from audio_rnn.music.charrnn import detach_state

        cfg = self.cfg
        x, y = self.data[:, i : i + cfg.bptt], self.data[:, i + 1 : i + 1 + cfg.bptt]
        for g in self.opt.param_groups:
            g["lr"] = lr_at(step, total, cfg.warmup, cfg.lr)
        logits, state = self.net(x, self.hidden)
        self.hidden = detach_state(state)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), 1.0

    def validate(self, train_loss: float) -> tuple[float, dict[str, Any]]:
        """Validation bits/char on the first EVAL_CHARS (cheap under load)."""
        val = evaluate_bpc(self.model, self.val_ids[:EVAL_CHARS], batch=32)
        return -val, {"val_bpc": round(val, 4), "train_bpc": round(train_loss / LN2, 4)}

    def on_eval(self, row: dict[str, Any], best: bool) -> None:
        from audio_rnn.music.charrnn import save_model

        if best:
            save_model(self.out, self.model, self.vocab,
                       {"train": asdict(self.cfg), "val_bpc": row["val_bpc"], "step": row["step"],
                        "train_seconds": row["seconds"], "corpus": self.corpus.summary()})

    def state(self) -> dict[str, Any]:
        """Every rank's carried hidden state (all ranks call this; rank 0 writes)."""
        import torch

        from audio_rnn.training import distributed

        return {"hidden": distributed.gather_objects(_state_to(self.hidden, torch.device("cpu")), self.ctx)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.hidden = _state_to(state["hidden"][self.ctx.rank], self.dev)

    def finish(self, fitted) -> dict[str, Any]:
        """The best checkpoint scored on the whole validation text; the run's figures (rank 0)."""
        from audio_rnn.music.charrnn import load_model, save_model
        from audio_rnn.training import distributed

        seconds = fitted.selection.seconds()
        distributed.barrier(self.ctx)
        if not self.ctx.is_main:
            return {"out": str(self.out), "steps": fitted.steps, "rank": self.ctx.rank}
        best_model, _, saved = load_model(self.out)
        full_val = evaluate_bpc(best_model, self.val_ids, batch=32)
        saved.update(val_bpc=round(full_val, 4), selection_val_bpc=round(-fitted.selection.best_score, 4))
        save_model(self.out, best_model, self.vocab, {k: v for k, v in saved.items() if k not in ("dims", "vocab", "kind")})
        result = {"out": str(self.out), "cell": self.cfg.cell, "params": self.model.param_count(),
                  "steps": fitted.steps, "epochs": round(fitted.steps / max(1, fitted.per_epoch), 3),
                  "best_val_bpc": round(full_val, 4), "selection_val_bpc": round(-fitted.selection.best_score, 4),
                  "train_seconds": round(seconds, 1),
                  "chars_per_second": round(fitted.steps * self.cfg.batch * self.cfg.bptt / seconds),
                  "stopped_early": fitted.stopped is not None, "history": fitted.history}
        (self.out / "history.json").write_text(json.dumps(result, indent=2) + "\n")
        return result


def configure_train_gen(p: argparse.ArgumentParser) -> None:
    d = TrainGenConfig()
    p.add_argument("--corpus", default=d.corpus,
                   help="'abc' (music21's ABC tunes, default), a prepare-corpus folder, or a UTF-8 text file")
    p.add_argument("--out", required=True, help="checkpoint folder to write (model.safetensors + config.json)")
    p.add_argument("--cell", choices=("rnn", "lstm", "gru"), default=d.cell)
    p.add_argument("--embed", type=int, default=d.embed)
    p.add_argument("--hidden", type=int, default=d.hidden, help="units per layer")
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--batch", type=int, default=d.batch, help="parallel streams")
    p.add_argument("--bptt", type=int, default=d.bptt, help="characters per truncated-BPTT chunk")
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument("--steps", type=int, default=d.steps, help="total optimizer steps (overrides --epochs)")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--clip", type=float, default=d.clip, help="gradient norm clip")
    p.add_argument("--min-count", type=int, default=d.min_count, help="rarer characters become unknown")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--header-aug", type=float, default=d.header_aug,
                   help="share of ABC training tunes shown with their raw or a randomly varied header style "
                        "(X: 1, K: Gmaj, Z:/S:/N: fields, field order); validation and test stay normalised")
    p.add_argument("--init", default=d.init, help="fine-tune: start from this charlm checkpoint (size and vocabulary too)")
    p.add_argument("--weight", default=d.weight,
                   help="'oneills1850,ryansMammoth=4': train tunes from music21 collections whose folder name holds "
                        "one of these names are shown 4 times an epoch")
    p.add_argument("--select-from", default=d.select_from,
                   help="'oneills1850,airdsAirs': choose the best checkpoint on the validation tunes of these "
                        "music21 collections only (default: all validation tunes)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_run_flags(p, threads=d.threads,
                  device_help="cpu or cuda; under torchrun each process takes cuda:LOCAL_RANK and the ranks talk over nccl")
    from audio_rnn.training.resume import add_arguments

    add_arguments(p)  # --save-every N, --resume (runs unchanged under torchrun: DDP, rank 0 logs and saves)


def run_train_gen(args: argparse.Namespace) -> int:
    cfg = config_from_args(TrainGenConfig, args)
    for name in ("hidden", "embed", "layers", "batch", "bptt"):
        if getattr(cfg, name) < 1:
            raise CorpusError(f"--{name} must be at least 1")
    if not 0.0 <= cfg.header_aug <= 1.0:
        raise CorpusError("--header-aug must be between 0 and 1")
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    from audio_rnn.training import distributed
    from audio_rnn.training.device import resolve_device

    resolve_device(cfg.device)  # a clear error before any work when the device is not there
    ctx = distributed.setup(device=cfg.device)  # under torchrun: gloo on CPU, nccl on GPU; no-op otherwise
    try:
        result = train(cfg, args.out, progress=not args.quiet, log=log, save_every=args.save_every,
                       resume=args.resume)
    finally:
        distributed.cleanup()
    if not ctx.is_main:
        return 0
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    else:
        print(f"best validation bits/char {result['best_val_bpc']:.4f} after {result['steps']} steps "
              f"({result['train_seconds']:.0f} s); checkpoint in {result['out']}")
    return 0
