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
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audio_rnn.errors import CorpusError
from audio_rnn.music.meter_guard import MeterGuard
from audio_rnn.music.notation import KEEP_HEADERS
from audio_rnn.music.settings import DEFAULTS
from audio_rnn.music.stepper import FastStepper, one_blas_thread, sample_logits
from audio_rnn.music.structure_guard import StructureGuard
from audio_rnn.music.text import UNK

X_LINE = "X:1\n"
ABC_PRIMER = X_LINE + "T:"  # the default: the model writes the title, the header and the tune
DEFAULT_TEMPERATURE = DEFAULTS.temperature
DEFAULT_LENGTH = DEFAULTS.length
TITLE_MAX = 80
BAR_RETRIES = 10
_FIELD_LINE = re.compile(r"^[A-Za-z]:")
_HEADER_DONE = re.compile(r"(?:^|\n)K:[^\n]*\n")  # the header ends with its K: line


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
        self._nl = int(self.vocab.encode("\n")[0])
        self._fast = FastStepper(self.model)
        # a full bar closes with a bar line before the line ends: music21 makes no bar at a line end
        allowed_after_full = set(self.vocab.encode("|: )-").tolist())
        self._full_mask = [i for i in range(1, len(self.vocab)) if i not in allowed_after_full]
        self._bar_ids = [i for i in self.vocab.encode("|:") if i]
        self._bar_only = [i for i in self.vocab.encode("|") if i]
        # normalised header lines (the corpus form), whatever header styles the model saw in training
        fields = "".join(f for f in KEEP_HEADERS if f != "X")
        self._not_field = [i for i in range(1, len(self.vocab)) if i not in set(self.vocab.encode(fields).tolist())]
        colon = set(self.vocab.encode(":").tolist())
        self._not_colon = [i for i in range(1, len(self.vocab)) if i not in colon]
        self._no_value_gap = [i for i in self.vocab.encode(" \n\t") if i]

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
    ) -> list[tuple[str, bool, int]]:
        """n sequences (text, ended, backtracks) sampled as one batch; `length` caps the sampled characters.

        `normal_header` (ABC models, default on) keeps sampled header lines in the corpus form
        (`F:value`, only T: M: L: R: K:), although training also showed other header styles.

        With the meter guard (ABC models, default on) a bar that closes too long or
        too short is sampled again from its start (up to BAR_RETRIES times per bar):
        the model's state is restored to the bar line and a new bar is drawn.
        The same guard keeps the repeats well formed (`StructureGuard`): a bar line that would
        leave a repeat open gets its ":" (the model's state is restored and ":|" fed instead), and
        a repeat still open at the end of the tune is closed; `fixes_out` gets how many per stream.
        """
        if n < 1:
            raise CorpusError("--n must be at least 1")
        if length < 1:
            raise CorpusError("--length must be at least 1")
        if not math.isfinite(temperature) or temperature < 0:
            raise CorpusError("--temperature must be a finite number >= 0")
        if not 0 < top_p <= 1:
            raise CorpusError("--top-p must be in (0, 1]")
        stop = self.is_abc if stop_at_end is None else stop_at_end
        if primer is None:
            primer = ABC_PRIMER if self.is_abc else ""
        head, after_title = _split_primer(primer) if self.is_abc else (primer, "")
        rng = np.random.default_rng(seed)
        chars = [UNK] + list(self.vocab.chars)
        guard_on = self.is_abc if meter_guard is None else (meter_guard and self.is_abc)
        header_on = self.is_abc if normal_header is None else (normal_header and self.is_abc)
        in_header = [header_on] * n
        texts: list[list[str]] = [list(head) for _ in range(n)]
        forced: list[list[int]] = [list(self.vocab.encode(head)) for _ in range(n)]
        pending = [after_title] * n  # forced after the sampled title line ends
        sampled = [0] * n
        ended = [False] * n
        done = [False] * n
        backtracks = [0] * n
        guards = [MeterGuard() for _ in range(n)]
        structure = [StructureGuard() for _ in range(n)]
        fixes = [0] * n
        colon_id = int(self.vocab.encode(":")[0])
        line_start = [0] * n
        bar_start = [0] * n
        retries = [0] * n
        snaps: list[Any] = [None] * n
        floor = [len(head)] * n  # never backtrack into forced text
        live = n
        with self._lock, one_blas_thread():
            step = self._fast.start(n)

            def snapshot(b: int, input_id: int) -> tuple:
                return ([x[b].copy() for x in step.h], [x[b].copy() for x in step.c], input_id, len(texts[b]))

            def restore(b: int, snap: tuple) -> int:
                hs, cs, input_id, pos = snap
                for x, v in zip(step.h, hs):
                    x[b] = v
                for x, v in zip(step.c, cs):
                    x[b] = v
                del texts[b][pos:]
                line_start[b] = min(line_start[b], pos)
                while line_start[b] > 0 and texts[b][line_start[b] - 1] != "\n":
                    line_start[b] -= 1
                return input_id

            def forced_done(b: int) -> None:
                """The forced text (primer, or a rewritten bar line) is in: the guard reads its lines."""
                t, g = texts[b], guards[b]
                last_nl = len(t) - 1 - t[::-1].index("\n") if "\n" in t else -1
                for line in "".join(t[line_start[b] : last_nl + 1]).split("\n"):
                    if _FIELD_LINE.match(line):
                        g.header_line(line)
                line_start[b] = max(line_start[b], last_nl + 1)
                if g.in_body:
                    bars = [k for k in range(line_start[b], len(t)) if t[k] == "|"]
                    bar_start[b] = bars[-1] + 1 if bars else line_start[b]
                    snaps[b], retries[b] = snapshot(b, ids[b]), 0

            ids = [self._nl] * n
            while live:
                logits = step(ids)
                if guard_on:
                    self._mask_bar(logits, texts, guards, bar_start, forced, pending, done)
                    self._mask_structure(logits, texts, structure, guards, forced, pending, done)
                if header_on:
                    self._mask_header(logits, texts, in_header, forced, pending, done)
                nxt = sample_logits(logits, temperature, top_k, top_p, rng)
                for b in range(n):
                    if done[b]:
                        ids[b] = self._nl
                        continue
                    if forced[b]:
                        ids[b] = forced[b].pop(0)
                        if not forced[b]:
                            floor[b] = len(texts[b])
                            if guard_on:
                                forced_done(b)
                        continue  # primer text is already in texts[b]
                    i = int(nxt[b])
                    ch = chars[i]
                    t = texts[b]
                    t.append(ch)
                    sampled[b] += 1
                    ids[b] = i
                    if pending[b] and (ch == "\n" or sampled[b] >= TITLE_MAX):
                        extra = pending[b] if ch == "\n" else "\n" + pending[b]
                        t.extend(extra)
                        forced[b] = list(self.vocab.encode(extra))
                        pending[b] = ""
                        ch = extra[-1]
                    elif stop and ch == "\n" and len(t) > 1 and t[-2] == "\n":
                        if guard_on:
                            closed = structure[b].close_at_end("".join(t))
                            if closed != "".join(t):
                                texts[b], fixes[b] = list(closed), fixes[b] + 1
                        ended[b] = done[b] = True
                        live -= 1
                        continue
                    if guard_on and not pending[b] and not forced[b]:
                        g = guards[b]
                        p = self._bar_before(t) if g.in_body and ch in "]:0123456789" else -1
                        if p >= 0 and snaps[b] is not None and snaps[b][3] == p + 1 >= floor[b] \
                                and structure[b].needs_close("".join(t[:p]), "".join(t[p + 1 :])):
                            tail = t[p + 1 :]
                            restore(b, snaps[b])  # back to the bar line, before the model read its "|"
                            t[p:] = [":", "|"] + tail
                            ids[b], forced[b] = colon_id, list(self.vocab.encode("|" + "".join(tail)))
                            fixes[b] += 1
                            continue
                        if ch == "\n":
                            line = "".join(t[line_start[b] : -1])
                            is_field = bool(_FIELD_LINE.match(line))
                            if is_field:
                                g.header_line(line)
                            if is_field and g.in_body or (g.in_body and g.full_at_line_end("".join(t[bar_start[b] : -1]))):
                                if not is_field:
                                    g.bars += 1
                                bar_start[b], snaps[b], retries[b] = len(t), snapshot(b, i), 0
                            line_start[b] = len(t)
                        elif ch == "|" and g.in_body:
                            bar_text = "".join(t[bar_start[b] : -1])
                            verdict = g.judge(bar_text, bar_text.rstrip().endswith(":"))
                            if verdict == "reject" and snaps[b] is not None and retries[b] < BAR_RETRIES \
                                    and snaps[b][3] >= floor[b]:
                                ids[b] = restore(b, snaps[b])
                                retries[b] += 1
                                backtracks[b] += 1
                                continue
                            if verdict == "reject":
                                g.bars += 1  # out of retries: keep it, the checker will say so
                            bar_start[b], snaps[b], retries[b] = len(t), snapshot(b, i), 0
                    if sampled[b] >= length:
                        done[b] = True
                        live -= 1
        if fixes_out is not None:
            fixes_out[:] = fixes
        out = []
        for t, e, k in zip(texts, ended, backtracks):
            text = "".join(t)
            out.append((text.rstrip("\n") + "\n" if e else text, e or not stop, k))
        return out

    def _mask_header(self, logits, texts, in_header, forced, pending, done) -> None:
        """Header lines in the corpus form: a line starts with T M L R or K, then ':' and the value (no blank)."""
        for b in range(len(texts)):
            if not in_header[b] or done[b] or forced[b] or pending[b]:
                continue
            t = texts[b]
            if _HEADER_DONE.search("".join(t)):
                in_header[b] = False
                continue
            tail = "".join(t[-3:])
            if tail.endswith("\n"):
                logits[b, self._not_field] = -np.inf
            elif re.search(r"(?:^|\n)[A-Za-z]$", tail):
                logits[b, self._not_colon] = -np.inf
            elif re.search(r"(?:^|\n)[A-Za-z]:$", tail):
                logits[b, self._no_value_gap] = -np.inf

    @staticmethod
    def _bar_before(t: list[str]) -> int:
        """Index of the "|" just before the last character ("|]", "|:", "|2") or before "[2" ("|[2"), else -1."""
        if len(t) >= 2 and t[-2] == "|":
            return len(t) - 2
        if len(t) >= 3 and t[-1].isdigit() and t[-2] == "[" and t[-3] == "|":
            return len(t) - 3
        return -1

    def _mask_structure(self, logits, texts, structure, guards, forced, pending, done) -> None:
        """Structure guard, character level: no ending number without a repeat, no ":" that closes nothing."""
        for b, sg in enumerate(structure):
            if done[b] or forced[b] or pending[b] or not guards[b].in_body:
                continue
            banned = sg.banned("".join(texts[b]))
            if banned:
                logits[b, [i for i in self.vocab.encode(banned) if i]] = -np.inf

    def _mask_bar(self, logits, texts, guards, bar_start, forced, pending, done) -> None:
        """Meter guard, character level: a full bar can only close (bar line, space, newline, tie, slur end);
        a short one cannot close (no `|` or `:`).

        (The pickup may close short; a part may end short with ":|" when that completes the pickup.)
        """
        for b, g in enumerate(guards):
            if done[b] or forced[b] or pending[b] or not g.in_body or g.full is None:
                continue
            d = g.bar_length("".join(texts[b][bar_start[b] :]))
            if d is None:
                continue
            if d >= g.full:
                logits[b, self._full_mask] = -np.inf
            elif d > 0 and g.bars > 0:
                text_end = texts[b][-1] if texts[b] else ""
                if text_end == ":" and d + g.pickup == g.full:
                    continue  # ":|" closing a part that completes the pickup
                # a short bar cannot close; ':' is left open only when it would complete the pickup
                logits[b, self._bar_ids if d + g.pickup != g.full else self._bar_only] = -np.inf

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


def generate(model: str | Path | None = None, **kwargs) -> list[Generation]:
    """Convenience for the app: `generate(n=1, temperature=..., primer=...)` with a cached model."""
    return get_generator(model).generate(**kwargs)
