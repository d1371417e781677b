"""ABC notation shared by the corpus, the checker, the meter guard and the renderer.

The header fields a normalised tune keeps, which of them may change inside the
music, which a valid tune needs; the pattern of a field line; splitting a file
into tunes at its `X:` lines and reading a tune's header.
"""

from __future__ import annotations

import re


KEEP_HEADERS = ("X", "T", "M", "L", "K", "R")
BODY_FIELDS = ("M", "L", "K")  # inline changes of meter, unit length or key stay in the music
REQUIRED_HEADERS = ("X", "T", "M", "K")


FIELD_LINE = re.compile(r"^([A-Za-z]):\s*(.*)$")


def split_tunes(text: str) -> list[str]:
    """Raw tunes of an ABC file: each starts at an `X:` line and ends before the next one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in re.finditer(r"(?m)^X:", text)]
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def header_fields(abc: str) -> dict[str, str]:
    """The header fields of a tune (up to and including K:), first value of each."""
    out: dict[str, str] = {}
    for line in abc.replace("\r\n", "\n").split("\n"):
        m = FIELD_LINE.match(line)
        if not m:
            if out:
                break
            continue
        out.setdefault(m.group(1), m.group(2).strip())
        if m.group(1) == "K":
            break
    return out
