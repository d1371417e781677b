"""Repeat structure of an ABC tune: `|:` `:|` `::`, endings `[1` `[2` and section ends `||` `|]`.

`scan` reads the music once and returns where the repeats stand (`RepeatState`)
and what is wrong, with the bar each problem is at. The checker uses its
problems; the sampler's `StructureGuard` uses its state to keep a tune from
making them. Bars are counted as written (segments between bar lines that hold
a note or rest), from 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SKIP = re.compile(r'"[^"\n]*"|![^!\n]*!|\{[^}\n]*\}|\[[A-Za-z]:[^\]\n]*\]|%[^\n]*')  # not music, not bar lines
_TOKEN = re.compile(
    r"(?P<bar>:*\[\|:*|:*\|[|\]]*:*|::+)(?P<num>\s?\[?\d+(?:[,-]\d+)*)?"  # a bar line, maybe with an ending
    r"|(?P<ending>\[\d+(?:[,-]\d+)*)"  # an ending on its own ("[2" after a line break)
    r"|(?P<note>[A-Ga-gzxZ])"
)
_FIELD = re.compile(r"^[A-Za-z]:")


@dataclass
class RepeatState:
    """Where the repeats stand after some music, and what went wrong so far."""

    bars: int = 0  # bars written so far
    open_at: int | None = None  # bar where the open repeat started (None: none open)
    since: int = 0  # the bar after which the last repeat sign or section end stands (a ":|" repeats from it)
    ending: int | None = None  # last number of the ending being played (None: not in an ending)
    ending_at: int = 0
    ending_first: bool = False  # that ending is a first one ("[1", "[1,2"): it must end with ":|"
    ending_closed: int | None = None  # the last ending that ended with ":|" (the next one may follow)
    in_bar: bool = False  # the current bar has music
    problems: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # (first, last) bar of every repeat closed

    @property
    def repeat_open(self) -> bool:
        """A repeat (or a first ending) is waiting for its ":|"."""
        return self.open_at is not None or (self.ending_first and self.ending_closed != self.ending)

    def can_close(self) -> bool:
        """A ":|" here would close something (an open repeat, or the section so far)."""
        return self.repeat_open or self.bars + self.in_bar > self.since

    def next_endings(self) -> set[int]:
        """Ending numbers that may start at the next bar line."""
        if self.ending_closed is not None and self.ending == self.ending_closed:
            return {self.ending_closed + 1}
        if self.ending is not None:
            return {self.ending + 1}  # "|2" right after ending 1 (the guard adds the missing ":")
        if self.open_at is not None or (self.bars > self.since):
            return {1}
        return set()


def _numbers(num: str) -> list[int]:
    """'1', '1,2', '1-3' -> [1], [1, 2], [1, 2, 3]."""
    out: list[int] = []
    for part in num.strip().lstrip("[").split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def _close(s: RepeatState) -> None:
    """A ":|" after bar s.bars."""
    if s.ending is not None and s.ending_closed != s.ending:
        s.ending_closed = s.ending
    elif s.open_at is not None:
        s.spans.append((s.open_at, s.bars))
    elif s.bars > s.since:
        s.spans.append((s.since + 1, s.bars))  # repeats from the section start or the last repeat sign
    else:
        s.problems.append(f"':|' at bar {s.bars} closes no repeat (no music since the last repeat sign)")
    s.open_at = None
    s.since = s.bars


def _open(s: RepeatState) -> None:
    """A "|:" before bar s.bars + 1."""
    if s.open_at is not None:
        s.problems.append(f"repeat opened at bar {s.open_at} is opened again at bar {s.bars + 1} before it is closed")
    elif s.ending_first and s.ending_closed != s.ending:
        s.problems.append(f"ending {s.ending} at bar {s.ending_at} is not closed with ':|'")
    s.open_at = s.bars + 1
    s.ending = s.ending_closed = None
    s.ending_first = False
    s.since = s.bars


def _section_end(s: RepeatState) -> None:
    """'|]' (or '||' outside a repeat) after bar s.bars: everything open must be closed by now."""
    if s.open_at is not None:
        s.problems.append(f"repeat opened at bar {s.open_at} is never closed (the section ends at bar {s.bars})")
    elif s.ending_first and s.ending_closed != s.ending:
        s.problems.append(f"ending {s.ending} at bar {s.ending_at} is not closed with ':|'")
    s.open_at = s.ending = s.ending_closed = None
    s.ending_first = False
    s.since = s.bars


def _start_ending(s: RepeatState, numbers: list[int]) -> None:
    """An ending '[n' before bar s.bars + 1."""
    first = numbers[0]
    at = s.bars + 1
    if first == 1:
        if s.open_at is None and not s.bars > s.since:
            s.problems.append(f"ending 1 at bar {at} follows no repeat")
    elif s.ending_closed != first - 1 or s.ending != first - 1:
        if s.ending == first - 1:
            s.problems.append(f"ending {s.ending} at bar {s.ending_at} is not closed with ':|' before ending {first}")
        else:
            s.problems.append(f"ending {first} at bar {at} has no ending {first - 1} before it")
    s.ending, s.ending_at, s.ending_closed, s.ending_first = numbers[-1], at, None, first == 1
    s.open_at = None


def _bar_line(s: RepeatState, bar: str, num: str | None) -> None:
    """Apply one bar line (and the ending after it)."""
    if s.in_bar:
        s.bars += 1
        s.in_bar = False
    if set(bar) == {":"}:  # "::"
        before, after = 1, 1
    else:
        before, after = len(bar) - len(bar.lstrip(":")), len(bar) - len(bar.rstrip(":"))
    if before:
        _close(s)
    if "]" in bar:
        _section_end(s)
    elif ("||" in bar or "[|" in bar) and not s.repeat_open:
        _section_end(s)  # a double bar inside a repeat is only a phrase mark
    if after:
        _open(s)
    if num:
        _start_ending(s, _numbers(num))


def scan(body: str, state: RepeatState | None = None) -> RepeatState:
    """Repeat state after reading `body` (music lines; field lines are skipped)."""
    s = state or RepeatState()
    for line in body.replace("\r\n", "\n").split("\n"):
        if _FIELD.match(line) and not line.startswith("|"):
            continue
        for m in _TOKEN.finditer(_SKIP.sub(" ", line)):
            if m.group("note"):
                s.in_bar = True
            elif m.group("bar"):
                _bar_line(s, m.group("bar"), m.group("num"))
            else:
                if s.in_bar:
                    s.bars += 1
                    s.in_bar = False
                _start_ending(s, _numbers(m.group("ending")))
    return s


def finish(s: RepeatState) -> RepeatState:
    """The tune ends here: a repeat or a first ending still open is a problem."""
    if s.in_bar:
        s.bars += 1
        s.in_bar = False
    if s.open_at is not None:
        s.problems.append(f"repeat opened at bar {s.open_at} is never closed")
    elif s.ending_first and s.ending_closed != s.ending:
        s.problems.append(f"ending 1 at bar {s.ending_at} is not closed with ':|'")
    s.open_at = None
    return s


def body_of(abc: str) -> str:
    """The music of a tune: the lines after its K: header line."""
    lines = abc.replace("\r\n", "\n").split("\n")
    k = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), None)
    return "\n".join(lines[k + 1 :]) if k is not None else ""


def repeat_problems(abc: str) -> list[str]:
    """What is wrong with a tune's repeats and endings, each naming its bar (empty when well formed)."""
    return finish(scan(body_of(abc))).problems


def repeat_spans(abc: str) -> list[tuple[int, int]]:
    """(first, last) bar of every repeated passage, bars counted from 1."""
    return finish(scan(body_of(abc))).spans
