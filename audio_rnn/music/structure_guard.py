"""Repeats while sampling: `StructureGuard` keeps a tune's repeat structure well formed as it is written.

It works with the meter guard in the sampler. Before each character it says
which characters would be a mistake here (`banned`): an ending number that
follows no repeat, or a ":" that would close a repeat when nothing is open.
After a bar line it says when the model's bar line needs a ":" in front
(`needs_close`): a "|]" while a repeat is open becomes ":|]", "|:" becomes
":|:", "|2" after an open first ending becomes ":|2". When the tune ends with
a repeat still open, `close_at_end` closes it at the last bar line. The state
comes from `repeats.scan`, the same reading the validity checker uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from audio_rnn.music.repeats import RepeatState, scan

_HEADER_END = re.compile(r"(?m)^K:[^\n]*\n")
_LAST_BAR = re.compile(r"(?:\[?\||:+\||\|)[|\]]*\s*$")
_NOTE = re.compile(r"[A-Ga-gz]")
_QUOTED = re.compile(r'"[^"]*"|![^!]*!|\[[A-Za-z]:[^\]]*\]')
DIGITS = "0123456789"


@dataclass
class StructureGuard:
    """Follows one tune being sampled and says which bar-line moves would break its repeats."""

    body_start: int | None = None  # where the music starts (after the K: line), once known
    _cache: tuple[int, RepeatState] | None = field(default=None, repr=False)

    def _body(self, text: str) -> str | None:
        if self.body_start is None:
            m = _HEADER_END.search(text)
            if not m:
                return None
            self.body_start = m.end()
        return text[self.body_start :]

    def state(self, text: str) -> RepeatState | None:
        """Repeat state of the music written so far (None while still in the header)."""
        body = self._body(text)
        if body is None:
            return None
        if self._cache is not None and self._cache[0] == len(body):
            return self._cache[1]
        s = scan(body)
        self._cache = (len(body), s)
        return s

    def banned(self, text: str) -> str:
        """Characters that would be a repeat mistake as the next character of `text`."""
        if not text or self._body(text) is None or len(text) <= (self.body_start or 0):
            return ""
        last = text[-1]
        line = text[text.rfind("\n") + 1 :]
        if line.count('"') % 2 or line.count("!") % 2:  # inside an annotation or a decoration
            return ""
        if last in "|[":
            s = self.state(text)
            if s is None:
                return ""
            allowed = {n for n in s.next_endings() if n < 10}
            if last == "[" and not text[:-1].endswith("|"):
                # "[2" after a line break: only an ending that may follow without a rewrite
                allowed = {n for n in allowed if s.ending_closed is not None and n == s.ending_closed + 1} | (
                    {1} if 1 in allowed else set())
            return "".join(d for d in DIGITS if int(d) not in allowed)
        if last.isalpha() or last == ":":
            return ""  # a field ("K:") or the second ":" of "::"
        bar = text.rfind("|")
        if bar < (self.body_start or 0):
            bar = (self.body_start or 0) - 1
        s = self.state(text[: bar + 1])  # the state changes only at bar lines: one scan per bar
        if s is None:
            return ""
        in_bar = s.in_bar or bool(_NOTE.search(_QUOTED.sub("", text[bar + 1 :])))
        if not (s.repeat_open or s.bars + in_bar > s.since):
            return ":"
        return ""

    def needs_close(self, before_bar: str, tail: str) -> bool:
        """Should the bar line "|" written after `before_bar`, followed by `tail`, get a ":" in front?

        Yes when a repeat (or a first ending) is open and the bar line ends the
        section ("|]"), opens a new repeat ("|:") or starts the next ending ("|2", "|[2").
        """
        if before_bar.endswith(":"):
            return False
        s = self.state(before_bar + "|")
        if s is None or not s.repeat_open:
            return False
        if tail in ("]", ":"):
            return True
        digit = tail.lstrip("[")
        return digit.isdigit() and s.ending is not None and int(digit) == s.ending + 1

    def close_at_end(self, text: str) -> str:
        """The finished tune with an open repeat (or first ending) closed at its last bar line."""
        if self._body(text) is None:
            return text
        end = text.rstrip()
        m = _LAST_BAR.search(end)
        before = end[: m.start()] if m else end
        if not scan(before[self.body_start :]).repeat_open or (m and ":" in m.group(0)):
            return text
        closed = end[: m.start() + m.group(0).index("|")] + ":" + end[m.start() + m.group(0).index("|") :] if m \
            else end + ":|"
        return closed + text[len(end) :]
