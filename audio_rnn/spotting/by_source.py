"""Stream scores by word source (FSDD takes, Speech Commands speakers, espeak-ng voices), from one matching.

Detections are matched once against all words of a stream (`stream_eval.match`);
each word's outcome counts for its source (`fsdd`, `speechcommands`, `espeak`:
the part of its `source` before the colon). A false alarm counts for the source
of the word it falls on (the nearest within the tolerance), or for `silence`
when it is near no word. Per source, false alarms per word divide by that
source's spoken words (for `silence`: by all spoken words) and false alarms per
hour by the length of the streams that source speaks in (for `silence`: all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from audio_rnn.spotting.stream_eval import UNKNOWN, match, near

SILENCE_SOURCE = "silence"


def source_of(word: dict[str, Any]) -> str:
    """The kind of source of a truth word: 'fsdd', 'speechcommands', 'espeak' (or '?' for old truth files)."""
    return str(word.get("source", "?")).split(":")[0]


def landed_on(c: float, words: Sequence[dict[str, Any]], tolerance: float) -> str:
    """The source of the word nearest to time `c` within the tolerance, else 'silence'."""
    cands = [w for w in words if near(c, w, tolerance)]
    if not cands:
        return SILENCE_SOURCE
    return source_of(min(cands, key=lambda w: abs(c - (w["start"] + w["end"]) / 2)))


@dataclass
class Row:
    """Counts for one source."""

    keywords: int = 0
    other_words: int = 0
    right: int = 0
    wrong: int = 0
    false_alarms: int = 0
    seconds: float = 0.0

    def summary(self, per_word_of: int) -> dict[str, Any]:
        """Counts, percentages of its keywords, false alarms per word (of `per_word_of` words) and per hour."""
        kw = max(1, self.keywords)
        return {"keywords": self.keywords, "other_words": self.other_words, "right": self.right, "wrong": self.wrong,
                "found_right_pct": round(100 * self.right / kw, 2), "wrong_pct": round(100 * self.wrong / kw, 2),
                "missed_pct": round(100 * (self.keywords - self.right - self.wrong) / kw, 2),
                "false_alarms": self.false_alarms, "fa_per_word": round(self.false_alarms / max(1, per_word_of), 4),
                "fa_per_hour": round(self.false_alarms / max(1e-9, self.seconds / 3600), 2),
                "hours": round(self.seconds / 3600, 4)}


@dataclass
class SourceTally:
    """Per-source counts over many streams."""

    tolerance: float = 0.75
    rows: dict[str, Row] = field(default_factory=dict)

    def add(self, detections: Iterable[Any], words: Sequence[dict[str, Any]], seconds: float) -> None:
        """Match one stream's detections to its words and add each outcome to its source's row."""
        taken, fas = match(detections, words, self.tolerance)
        for src in {source_of(w) for w in words} | {SILENCE_SOURCE}:
            self.rows.setdefault(src, Row()).seconds += float(seconds)
        for i, w in enumerate(words):
            row = self.rows[source_of(w)]
            if w["label"] == UNKNOWN:
                row.other_words += 1
            else:
                row.keywords += 1
                row.right += taken.get(i) == "right"
                row.wrong += taken.get(i) == "wrong"
        for _, c in fas:
            self.rows[landed_on(c, words, self.tolerance)].false_alarms += 1

    def summary(self) -> dict[str, dict[str, Any]]:
        """{source: its summary}, sources by name with 'silence' last."""
        spoken = sum(r.keywords + r.other_words for r in self.rows.values())
        order = sorted(k for k in self.rows if k != SILENCE_SOURCE) + [SILENCE_SOURCE] * (SILENCE_SOURCE in self.rows)
        return {k: self.rows[k].summary(spoken if k == SILENCE_SOURCE else self.rows[k].keywords +
                                        self.rows[k].other_words) for k in order}


def found_right_by_source(by_source: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The short form kept from earlier reports: {source: found_right, digits (its keywords), pct} where keywords."""
    return {k: {"found_right": v["right"], "digits": v["keywords"], "pct": v["found_right_pct"]}
            for k, v in by_source.items() if v["keywords"]}


def format_rows(by_source: dict[str, dict[str, Any]]) -> list[str]:
    """One text line per source for `eval-streams`."""
    out = []
    for k, v in by_source.items():
        head = (f"{k:>15}: {v['keywords']} keywords, {v['other_words']} other words; found-and-right "
                f"{v['found_right_pct']}% ({v['right']}), wrong {v['wrong_pct']}% ({v['wrong']}); "
                if k != SILENCE_SOURCE else f"{k:>15}: ")
        out.append(head + f"false alarms {v['false_alarms']} ({v['fa_per_word']}/word, {v['fa_per_hour']}/hour)")
    return out
