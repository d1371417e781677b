"""One tune being sampled: `TuneStream` holds its text and guards, masks the next character's logits and
takes the sampled one; `TuneMasks` are the vocabulary's character sets the masks use.

The sampler (`Generator.sample`) steps a batch of streams through the network; each
stream decides for itself what it may write next:
- forced text (the primer, a title's follow-up, a bar line rewritten with ":") goes in first;
- header lines keep the corpus form (`F:value`);
- the meter guard masks bar lines that would close a bar short or let one run long, and
  redraws a bar that closes wrong from the bar line before it (the network's state restored);
- the structure guard keeps repeats well formed;
- the length guard lets the tune end (a blank line) only after `min_bars` full bars, at a bar
  line or a full bar: a tune is whole, not a fragment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from audio_rnn.music.meter_guard import MeterGuard
from audio_rnn.music.notation import KEEP_HEADERS
from audio_rnn.music.structure_guard import StructureGuard
from audio_rnn.music.validity import MIN_FULL_BARS

TITLE_MAX = 80  # a sampled title line longer than this is cut (the user's header fields follow)
BAR_RETRIES = 10  # how often one bar is redrawn before it is kept as it is
_FIELD_LINE = re.compile(r"^[A-Za-z]:")
_HEADER_DONE = re.compile(r"(?:^|\n)K:[^\n]*\n")  # the header ends with its K: line


class TuneMasks:
    """Character-id sets of one vocabulary, computed once per model."""

    def __init__(self, vocab) -> None:
        ids = lambda s: [i for i in vocab.encode(s).tolist() if i]  # noqa: E731  (0 is the unknown token)
        everything = range(1, len(vocab))
        self.chars = ["\ufffd"] + list(vocab.chars)
        self.encode = lambda s: vocab.encode(s).tolist()  # noqa: E731
        self.newline = int(vocab.encode("\n")[0])
        self.colon = int(vocab.encode(":")[0])
        # a full bar closes with a bar line before the line ends: music21 makes no bar at a line end
        after_full = set(ids("|: )-"))
        self.full_bar = [i for i in everything if i not in after_full]
        self.bar_line = ids("|:")
        self.bar_only = ids("|")
        fields = set(ids("".join(f for f in KEEP_HEADERS if f != "X")))
        self.not_field = [i for i in everything if i not in fields]
        self.not_colon = [i for i in everything if i not in set(ids(":"))]
        self.value_gap = ids(" \n\t")


@dataclass
class StreamOptions:
    """What every stream of one sampling call does."""

    stop_at_end: bool  # an ABC tune ends at a blank line
    guard: bool  # meter, structure and length guards
    normal_header: bool  # header lines in the corpus form
    length: int  # the most characters to sample
    min_bars: int = MIN_FULL_BARS  # the length guard (0: off)


class TuneStream:
    """Row `b` of a batched sampling step: its text, what is forced next, its guards and its bar snapshot."""

    def __init__(self, b: int, step: Any, masks: TuneMasks, opts: StreamOptions, head: str, after_title: str):
        self.b, self.step, self.m, self.opts = b, step, masks, opts
        self.text: list[str] = list(head)
        self.forced: list[int] = masks.encode(head)
        self.pending = after_title  # forced after the sampled title line ends
        self.in_header = opts.normal_header
        self.sampled = 0
        self.ended = self.done = False
        self.backtracks = self.fixes = 0
        self.meter, self.structure = MeterGuard(), StructureGuard()
        self.line_start = self.bar_start = self.retries = 0
        self.snap: tuple | None = None
        self.floor = len(head)  # never backtrack into forced text
        self.input_id = masks.newline

    # ------------------------------------------------------------------ masks

    def mask(self, row: np.ndarray) -> None:
        """Set to -inf the logits of characters this stream may not write next."""
        if self.done or self.forced or self.pending:
            return
        if self.opts.guard and self.meter.in_body:
            self._mask_bar(row)
            self._mask_structure(row)
            self._mask_length(row)
        if self.in_header:
            self._mask_header(row)

    def _mask_bar(self, row: np.ndarray) -> None:
        """A full bar can only close; a short one cannot (except the pickup, or ":|" completing it)."""
        g = self.meter
        if g.full is None:
            return
        d = g.bar_length("".join(self.text[self.bar_start :]))
        if d is None:
            return
        if d >= g.full:
            row[self.m.full_bar] = -np.inf
        elif d > 0 and g.bars > 0:
            if self.text and self.text[-1] == ":" and d + g.pickup == g.full:
                return  # ":|" closing a part that completes the pickup
            row[self.m.bar_line if d + g.pickup != g.full else self.m.bar_only] = -np.inf

    def _mask_structure(self, row: np.ndarray) -> None:
        """No ending number without a repeat, no ":" that closes nothing."""
        banned = self.structure.banned("".join(self.text))
        if banned:
            row[[i for i in self.m.encode(banned) if i]] = -np.inf

    def _mask_length(self, row: np.ndarray) -> None:
        """No blank line (the end of the tune) before `min_bars` full bars, or in the middle of a bar."""
        if self.opts.min_bars <= 0 or not (self.opts.stop_at_end and self.text and self.text[-1] == "\n") \
                or self.may_end():
            return
        row[self.m.newline] = -np.inf

    def may_end(self) -> bool:
        """Could the tune end here: enough full bars, and the last bar closed (by a bar line, or one that
        completes the pickup: the usual short last bar)."""
        g = self.meter
        if g.full is None or not g.in_body:
            return True
        if g.full_bars < self.opts.min_bars:
            return False
        d = g.bar_length("".join(self.text[self.bar_start :]))
        return d is not None and (d == 0 or d + g.pickup == g.full)

    def _mask_header(self, row: np.ndarray) -> None:
        """Header lines in the corpus form: T M L R or K, then ':' and the value (no blank)."""
        t = self.text
        if _HEADER_DONE.search("".join(t)):
            self.in_header = False
            return
        tail = "".join(t[-3:])
        if tail.endswith("\n"):
            row[self.m.not_field] = -np.inf
        elif re.search(r"(?:^|\n)[A-Za-z]$", tail):
            row[self.m.not_colon] = -np.inf
        elif re.search(r"(?:^|\n)[A-Za-z]:$", tail):
            row[self.m.value_gap] = -np.inf

    # ------------------------------------------------------------------ taking a character

    def take(self, sampled_id: int) -> int:
        """Take the sampled character (or the next forced one); returns the id the network reads next."""
        if self.done:
            return self.m.newline
        if self.forced:
            self.input_id = self.forced.pop(0)
            if not self.forced:
                self.floor = len(self.text)
                if self.opts.guard:
                    self._forced_done()
            return self.input_id  # forced text is already in the text
        ch = self.m.chars[sampled_id]
        t = self.text
        t.append(ch)
        self.sampled += 1
        self.input_id = sampled_id
        if self.pending and (ch == "\n" or self.sampled >= TITLE_MAX):
            extra = self.pending if ch == "\n" else "\n" + self.pending
            t.extend(extra)
            self.forced, self.pending = self.m.encode(extra), ""
            ch = extra[-1]
        elif self.opts.stop_at_end and ch == "\n" and len(t) > 1 and t[-2] == "\n":
            self._end()
            return sampled_id
        if self.opts.guard and not self.pending and not self.forced:
            redo = self._guard(ch)
            if redo is not None:
                return redo
        if self.sampled >= self.opts.length:
            self.done = True
        return self.input_id

    def _end(self) -> None:
        """The blank line: close a repeat still open, and stop."""
        if self.opts.guard:
            text = "".join(self.text)
            closed = self.structure.close_at_end(text)
            if closed != text:
                self.text, self.fixes = list(closed), self.fixes + 1
        self.ended = self.done = True

    def _guard(self, ch: str) -> int | None:
        """Meter and structure guards after character `ch`; the id to read next when they rewrote the text."""
        t, g = self.text, self.meter
        p = self._bar_before() if g.in_body and ch in "]:0123456789" else -1
        if p >= 0 and self.snap is not None and self.snap[3] == p + 1 >= self.floor \
                and self.structure.needs_close("".join(t[:p]), "".join(t[p + 1 :])):
            tail = t[p + 1 :]
            self._restore()  # back to the bar line, before the model read its "|"
            t[p:] = [":", "|"] + tail
            self.forced = self.m.encode("|" + "".join(tail))
            self.fixes += 1
            self.input_id = self.m.colon
            return self.m.colon
        if ch == "\n":
            self._line_end()
        elif ch == "|" and g.in_body:
            return self._bar_end()
        return None

    def _line_end(self) -> None:
        """A line ended: a header field, or (Essen style) a full bar closed by the line end."""
        t, g = self.text, self.meter
        line = "".join(t[self.line_start : -1])
        is_field = bool(_FIELD_LINE.match(line))
        if is_field:
            g.header_line(line)
        if is_field and g.in_body or (g.in_body and g.close_at_line_end("".join(t[self.bar_start : -1]))):
            self._bar_closed()
        self.line_start = len(t)

    def _bar_end(self) -> int | None:
        """A bar line: the meter guard judges the bar; a bar that does not fit is drawn again."""
        bar_text = "".join(self.text[self.bar_start : -1])
        verdict = self.meter.judge(bar_text, bar_text.rstrip().endswith(":"))
        if verdict == "reject" and self.snap is not None and self.retries < BAR_RETRIES \
                and self.snap[3] >= self.floor:
            self.input_id = self._restore()
            self.retries += 1
            self.backtracks += 1
            return self.input_id
        if verdict == "reject":
            self.meter.bars += 1  # out of retries: keep it, the checker will say so
        self._bar_closed()
        return None

    def _bar_closed(self) -> None:
        self.bar_start, self.retries = len(self.text), 0
        self.snap = self._snapshot()

    def _bar_before(self) -> int:
        """Index of the "|" just before the last character ("|]", "|:", "|2") or before "[2" ("|[2"), else -1."""
        t = self.text
        if len(t) >= 2 and t[-2] == "|":
            return len(t) - 2
        if len(t) >= 3 and t[-1].isdigit() and t[-2] == "[" and t[-3] == "|":
            return len(t) - 3
        return -1

    def _forced_done(self) -> None:
        """The forced text (primer, or a rewritten bar line) is in: the guard reads its lines."""
        t, g = self.text, self.meter
        last_nl = len(t) - 1 - t[::-1].index("\n") if "\n" in t else -1
        for line in "".join(t[self.line_start : last_nl + 1]).split("\n"):
            if _FIELD_LINE.match(line):
                g.header_line(line)
        self.line_start = max(self.line_start, last_nl + 1)
        if g.in_body:
            bars = [k for k in range(self.line_start, len(t)) if t[k] == "|"]
            self.bar_start = bars[-1] + 1 if bars else self.line_start
            self.snap, self.retries = self._snapshot(), 0

    # ------------------------------------------------------------------ backtracking

    def _snapshot(self) -> tuple:
        """The network's state of this row, the id it reads next and the text length (a bar start)."""
        b = self.b
        return ([x[b].copy() for x in self.step.h], [x[b].copy() for x in self.step.c], self.input_id,
                len(self.text), self.meter.full_bars)

    def _restore(self) -> int:
        """Back to the last snapshot: state, text and the full-bar count; returns the id to read next."""
        hs, cs, input_id, pos, full_bars = self.snap
        for x, v in zip(self.step.h, hs):
            x[self.b] = v
        for x, v in zip(self.step.c, cs):
            x[self.b] = v
        del self.text[pos:]
        self.meter.full_bars = full_bars
        self.line_start = min(self.line_start, pos)
        while self.line_start > 0 and self.text[self.line_start - 1] != "\n":
            self.line_start -= 1
        return input_id
