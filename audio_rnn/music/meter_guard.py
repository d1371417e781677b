"""Bar lengths while sampling: `MeterGuard` follows a tune as it is written and judges each bar as it
closes, so the generator can resample a bar that does not fit the meter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from audio_rnn.music.notation import FIELD_LINE


_NOTE_RE = re.compile(
    r"(?P<tup>\((?P<p>\d)(?::(?P<q>\d*))?(?::(?P<r>\d*))?)"
    r"|(?P<chord>\[(?P<inner>[^\]]*)\])(?P<clen>\d*/*\d*)"
    r"|(?P<note>(?:\^{1,2}|_{1,2}|=)?[A-Ga-gzx][,']*)(?P<nlen>\d*/*\d*)"
    r"|(?P<broken>[<>]{1,3})"
)
_TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}


def _length(s: str) -> Fraction:
    """ABC length suffix: '' 1, '2' 2, '/' 1/2, '//' 1/4, '/3' 1/3, '3/2' 3/2."""
    if not s:
        return Fraction(1)
    num, _, rest = s.partition("/")
    n = Fraction(int(num)) if num else Fraction(1)
    if "/" not in s:
        return n
    slashes = 1 + rest.count("/")
    den = rest.replace("/", "")
    return n / (int(den) if den else 2 ** slashes)


def meter_quarters(meter: str) -> Fraction | None:
    """Bar length in quarter notes of an M: value ('6/8' -> 3, 'C' -> 4, 'C|' -> 4, 'none' -> None)."""
    m = meter.strip()
    if m == "C":
        return Fraction(4)
    if m == "C|":
        return Fraction(4)
    hit = re.match(r"^(\d+(?:\+\d+)*)/(\d+)", m)
    if not hit:
        return None
    num = sum(int(x) for x in hit.group(1).split("+"))
    return Fraction(4 * num, int(hit.group(2))) if int(hit.group(2)) else None


def bar_quarters(bar: str, unit: Fraction) -> Fraction | None:
    """Duration in quarter notes of the music of one bar (unit = L: as a fraction of a whole note).

    A light reading of ABC for the sampler's meter guard: chord symbols,
    decorations, grace notes and inline fields are skipped; broken rhythms,
    tuplets and chords count. None when the bar is unfinished (an open quote, brace...).
    """
    s = bar
    for a, b in (('"', '"'), ("!", "!"), ("{", "}")):
        if s.count(a) != s.count(b) if a != b else s.count(a) % 2:
            return None
    s = re.sub(r'"[^"]*"', "", s)
    s = re.sub(r"![^!]*!", "", s)
    s = re.sub(r"\{[^}]*\}", "", s)
    s = re.sub(r"\[[A-Za-z]:[^\]]*\]", "", s)
    if s.count("[") != s.count("]"):
        return None
    lengths: list[Fraction] = []
    pending_broken: Fraction | None = None
    tuplet_left, tuplet_factor = 0, Fraction(1)
    for m in _NOTE_RE.finditer(s):
        if m.group("tup"):
            p = int(m.group("p"))
            q = int(m.group("q")) if m.group("q") else _TUPLET_Q.get(p, 2)
            tuplet_left = int(m.group("r")) if m.group("r") else p
            tuplet_factor = Fraction(q, p) if p else Fraction(1)
            continue
        if m.group("broken"):
            sym = m.group("broken")
            dots = len(sym)
            long_, short = 2 - Fraction(1, 2**dots), Fraction(1, 2**dots)
            if lengths:
                first, second = (long_, short) if sym[0] == ">" else (short, long_)
                lengths[-1] *= first
                pending_broken = second
            continue
        if m.group("chord"):
            inner = _NOTE_RE.search(m.group("inner"))
            base = _length(inner.group("nlen")) if inner and inner.group("note") else Fraction(1)
            length = base * _length(m.group("clen"))
        else:
            length = _length(m.group("nlen"))
        if pending_broken is not None:
            length *= pending_broken
            pending_broken = None
        if tuplet_left > 0:
            length *= tuplet_factor
            tuplet_left -= 1
        lengths.append(length)
    return sum(lengths, Fraction(0)) * unit * 4


_OPEN_GROUP = re.compile(r"\[[^\]]*$|\{[^}]*$")  # a "[" or "{" still open at the end of the bar
_BAR_LEAD = re.compile(r"^(?:[:|\]]|\[(?=\d))*\d*(?:[,-]\d+)*")  # bar-line rests and ending numbers


@dataclass
class MeterGuard:
    """Follows a tune being written and judges each bar as it closes (for sampling with backtracking)."""

    unit: Fraction | None = None
    full: Fraction | None = None
    meter_seen: bool = False
    in_body: bool = False
    bars: int = 0
    full_bars: int = 0  # bars exactly as long as the meter (what makes a tune whole)
    pickup: Fraction = Fraction(0)

    def header_line(self, line: str) -> None:
        """Read a completed line: M:, L: and K: (the body starts after K:)."""
        m = FIELD_LINE.match(line)
        if not m:
            return
        key, value = m.group(1), m.group(2)
        if key == "M":
            self.full = meter_quarters(value)
            self.meter_seen = True
        elif key == "L":
            try:
                self.unit = Fraction(value.strip())
            except (ValueError, ZeroDivisionError):
                self.unit = None
        elif key == "K":
            self.in_body = True

    def _unit(self) -> Fraction:
        if self.unit is not None:
            return self.unit
        if self.full is not None and self.full / 4 < Fraction(3, 4):
            return Fraction(1, 16)
        return Fraction(1, 8)

    def judge(self, bar_text: str, repeat: bool) -> str:
        """'accept', 'reject' or 'empty' for the bar text between two bar lines."""
        if not self.in_body or self.full is None:
            return "accept"
        body = _BAR_LEAD.sub("", bar_text)
        d = bar_quarters(body, self._unit())
        if d is None:  # a chord or grace group left open at the bar line is a mistake ("[|" is a bar line)
            return "reject" if _OPEN_GROUP.search(body) and not body.rstrip().endswith("[") else "accept"
        if d == 0:
            return "empty"
        if d > self.full:
            return "reject"
        if d == self.full:
            self.bars += 1
            self.full_bars += 1
            return "accept"
        if self.bars == 0:  # the pickup
            self.bars += 1
            self.pickup = d
            return "accept"
        if repeat and self.pickup and d + self.pickup == self.full:  # a part ending ":|" that completes the pickup
            self.bars += 1
            return "accept"
        return "reject"

    def bar_length(self, bar_text: str) -> Fraction | None:
        """Quarter notes written so far in the current bar (None outside the body or when unreadable)."""
        if not self.in_body or self.full is None:
            return None
        return bar_quarters(_BAR_LEAD.sub("", bar_text), self._unit())

    def full_at_line_end(self, bar_text: str) -> bool:
        """A line ending with a full bar closes it (the implicit bar line of Essen-style files)."""
        if not self.in_body or self.full is None:
            return False
        body = _BAR_LEAD.sub("", bar_text)
        return bar_quarters(body, self._unit()) == self.full

    def close_at_line_end(self, bar_text: str) -> bool:
        """Count a full bar that a line end closes (see `full_at_line_end`); True when it did."""
        if not self.full_at_line_end(bar_text):
            return False
        self.bars += 1
        self.full_bars += 1
        return True
