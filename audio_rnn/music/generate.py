"""Sampling from a character model (`generate`) and bits per character of a file under it (`score`).

`Generator` loads a model once (the app keeps one) and samples batches of
streams with temperature, top-k and top-p, after a primer; an ABC model stops
each stream at the end of its tune (a blank line) and every tune is checked
for validity. A primer without `X:` gets `X:1`, and a model-written title
when it has none, so header-only primers such as "M:6/8\\nK:D\\n" give
complete tunes. Unknown characters are mapped to the unknown token.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audio_rnn.errors import CorpusError
from audio_rnn.music.settings import DEFAULTS
from audio_rnn.music.stepper import FastStepper, one_blas_thread, sample_logits
from audio_rnn.music.tune_stream import MIN_FULL_BARS, StreamOptions, TuneMasks, TuneStream

X_LINE = "X:1\n"
ABC_PRIMER = X_LINE + "T:"  # the default: the model writes the title, the header and the tune
DEFAULT_TEMPERATURE = DEFAULTS.temperature
DEFAULT_LENGTH = DEFAULTS.length


@dataclass
class Generation:
    """One generated sequence and what we know about it."""

    text: str
    valid: bool
    reasons: list[str] = field(default_factory=list)
    ended: bool = True  # an ABC tune reached its end (blank line) before the length limit
    attempts: int = 1
    raw_valid: bool | None = None  # validity of the first attempt (resampling reports it separately)
    unknown_chars: list[str] = field(default_factory=list)
    chars: int = 0
    seed: int | None = None
    meter_guard: bool = False  # bars were checked while sampling and redrawn when they did not fit
    backtracks: int = 0  # how many bars the meter guard redrew
    repeat_fixes: int = 0  # how many bar lines the structure guard closed with ":" (repeats left open)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_sampling(n: int, length: int, temperature: float, top_p: float) -> None:
    """One clear error for sampling settings that cannot work."""
    if n < 1:
        raise CorpusError("--n must be at least 1")
    if length < 1:
        raise CorpusError("--length must be at least 1")
    if not math.isfinite(temperature) or temperature < 0:
        raise CorpusError("--temperature must be a finite number >= 0")
    if not 0 < top_p <= 1:
        raise CorpusError("--top-p must be in (0, 1]")


def _split_primer(primer: str) -> tuple[str, str]:
    """(text to force before sampling, text to force after the sampled title) for an ABC model."""
    primer = primer.replace("\r\n", "\n").replace("\r", "\n")
    if primer.startswith("X:"):
        return primer, ""
    lines = primer.split("\n")
    has_title = any(ln.startswith("T:") for ln in lines)
    if has_title or not primer:
        return X_LINE + primer, ""
    return X_LINE + "T:", primer  # the model writes a title, then the user's fields follow


class Generator:
    """A loaded character model plus sampling; safe to share between threads (one lock per call)."""

    def __init__(self, model: str | Path | None = None, threads: int | None = None):
        import torch

        from audio_rnn.music.charrnn import load_model

        if threads:
            torch.set_num_threads(threads)
        self.model, self.vocab, self.config = load_model(model)
        corpus = self.config.get("corpus") or {}
        self.is_abc = corpus.get("source") == "abc"
        self._lock = threading.Lock()
        self._fast = FastStepper(self.model)
        self._masks = TuneMasks(self.vocab)

    # ------------------------------------------------------------------ sampling

    def sample(
        self,
        n: int = 1,
        temperature: float = DEFAULT_TEMPERATURE,
        top_k: int = 0,
        top_p: float = 1.0,
        primer: str | None = None,
        length: int = DEFAULT_LENGTH,
        seed: int | None = None,
        stop_at_end: bool | None = None,
        meter_guard: bool | None = None,
        normal_header: bool | None = None,
        fixes_out: list[int] | None = None,
        min_bars: int = MIN_FULL_BARS,
    ) -> list[tuple[str, bool, int]]:
        """n sequences (text, ended, backtracks) sampled as one batch; `length` caps the sampled characters.

        Each row is a `TuneStream`: for ABC models `normal_header` (default on) keeps header lines
        in the corpus form, and the guards (default on) redraw bars that do not fit the meter, keep
        repeats well formed and let a tune end only after `min_bars` full bars at a closed bar.
        `fixes_out` gets how many bar lines per stream the structure guard closed with ":".
        """
        _check_sampling(n, length, temperature, top_p)
        stop = self.is_abc if stop_at_end is None else stop_at_end
        if primer is None:
            primer = ABC_PRIMER if self.is_abc else ""
        head, after_title = _split_primer(primer) if self.is_abc else (primer, "")
        opts = StreamOptions(
            stop_at_end=stop,
            guard=self.is_abc if meter_guard is None else (meter_guard and self.is_abc),
            normal_header=self.is_abc if normal_header is None else (normal_header and self.is_abc),
            length=length, min_bars=min_bars)
        rng = np.random.default_rng(seed)
        with self._lock, one_blas_thread():
            step = self._fast.start(n)
            tunes = [TuneStream(b, step, self._masks, opts, head, after_title) for b in range(n)]
            ids = [self._masks.newline] * n
            while not all(t.done for t in tunes):
                logits = step(ids)
                for t in tunes:
                    t.mask(logits[t.b])
                nxt = sample_logits(logits, temperature, top_k, top_p, rng)
                ids = [t.take(int(nxt[t.b])) for t in tunes]
        if fixes_out is not None:
            fixes_out[:] = [t.fixes for t in tunes]
        out = []
        for t in tunes:
            text = "".join(t.text)
            out.append((text.rstrip("\n") + "\n" if t.ended else text, t.ended or not stop, t.backtracks))
        return out

    def generate(
        self,
        n: int = 1,
        temperature: float = DEFAULT_TEMPERATURE,
        top_k: int = 0,
        top_p: float = 1.0,
        primer: str | None = None,
        length: int = DEFAULT_LENGTH,
        seed: int | None = None,
        until_valid: int = DEFAULTS.until_valid,
        check: bool = True,
        meter_guard: bool = DEFAULTS.guard,
    ) -> list[Generation]:
        """Sample n sequences and check each (ABC models); `until_valid` > 0 resamples invalid ones that many times."""
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        unknown = self.vocab.unknown(primer or "")
        results: list[Generation] = []
        guard = meter_guard and self.is_abc
        fixes: list[int] = []
        fixes2: list[int] = []
        triples = self.sample(n, temperature, top_k, top_p, primer, length, seed, meter_guard=guard, fixes_out=fixes)
        for k, (text, ended, backs) in enumerate(triples):
            g = self._judge(text, ended, check)
            g.backtracks, g.meter_guard, g.repeat_fixes = backs, guard, fixes[k]
            g.raw_valid, g.unknown_chars, g.seed = g.valid, unknown, seed
            attempt = 1
            while not g.valid and attempt <= until_valid:
                retry_seed = seed + 1000003 * attempt + k
                text2, ended2, backs2 = self.sample(1, temperature, top_k, top_p, primer, length, retry_seed,
                                                    meter_guard=guard, fixes_out=fixes2)[0]
                g2 = self._judge(text2, ended2, check)
                g2.backtracks, g2.meter_guard, g2.repeat_fixes = backs2, guard, fixes2[0]
                attempt += 1
                g2.raw_valid, g2.unknown_chars, g2.seed = g.raw_valid, unknown, retry_seed
                g = g2
            g.attempts = attempt
            results.append(g)
        return results

    def _judge(self, text: str, ended: bool, check: bool) -> Generation:
        if not (self.is_abc and check):
            return Generation(text, True, [], ended, chars=len(text))
        from audio_rnn.music.validity import check_tune

        v = check_tune(text)
        reasons = list(v.reasons)
        if not ended:
            reasons.insert(0, "the tune did not end within the length limit")
        return Generation(text, not reasons, reasons, ended, chars=len(text))

    # ------------------------------------------------------------------ scoring

    def log2probs(self, text: str, context: str = "\n", chunk: int = 512) -> np.ndarray:
        """-log2 P(char | everything before it) for each character of text, after `context`."""
        import torch

        ids = self.vocab.encode(context + text)
        out = np.zeros(len(text))
        start = len(context)
        with self._lock, torch.inference_mode():
            state = None
            x_all = torch.from_numpy(ids)
            pos = 0
            while pos < len(ids) - 1:
                x = x_all[pos : pos + chunk].view(1, -1)
                y = x_all[pos + 1 : pos + 1 + chunk]
                x = x[:, : len(y)]
                logits, state = self.model(x, state)
                lp = torch.log_softmax(logits[0], -1).gather(1, y.view(-1, 1))[:, 0].numpy()
                # position p in ids predicts ids[p + 1]; text char j is ids[start + j]
                lo, hi = pos + 1, pos + 1 + len(y)
                a, b = max(lo, start), hi
                if b > a:
                    out[a - start : b - start] = -lp[a - lo : b - lo] / math.log(2)
                pos += len(y)
        return out

    def score(self, text: str, cache: bool = True) -> dict[str, Any]:
        """Bits per character of text (unknown characters cost the unknown token's probability).

        With `cache` (the default) the network is mixed with a match model that copies
        repeats from the text already read (`audio_rnn.music.copy_cache`); the network alone is
        reported as `network_bits_per_char` either way.
        """
        if not text:
            raise CorpusError("nothing to score: the text is empty")
        bits = self.log2probs(text)
        unknown = set(self.vocab.unknown(text))
        out: dict[str, Any] = {"chars": len(text), "bits_per_char": float(bits.mean()),
                               "network_bits_per_char": float(bits.mean()), "cache": cache,
                               "unknown_chars": sum(1 for c in text if c in unknown)}
        if cache:
            from audio_rnn.music.copy_cache import mix_match

            mixed, stats = mix_match(self.vocab.encode(text), np.exp2(-bits))
            out["bits_per_char"] = float(mixed.mean())
            out["copies_proposed"], out["copies_right"] = stats["proposals"], stats["hits"]
        return out


_SHARED: dict[str, Generator] = {}
_SHARED_LOCK = threading.Lock()


def get_generator(model: str | Path | None = None) -> Generator:
    """One Generator per model path per process (the app and tests share it)."""
    key = str(Path(model).resolve()) if model else "<default>"
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Generator(model)
        return _SHARED[key]
