"""Scoring a spotter on streams with known word times (`eval-streams`), overall and by word source.

A detection counts for a word when its centre lies within +-`tolerance` (750 ms) of the word's span. A keyword
word is found-and-right when a detection with its label is matched to it, wrong when only other labels are;
every other detection (on silence, on non-keyword words, or a second one on the same word) is a false alarm.
`tune` scores many detection settings on posteriors computed once, with the spotter's own lag, so the figure it
reports for a setting is what `evaluate` then measures with it.

By word source (FSDD takes, Speech Commands speakers, espeak-ng voices): detections are matched once against all
words of a stream (`match`); each word's outcome counts for its source (`fsdd`, `speechcommands`, `espeak`:
the part of its `source` before the colon). A false alarm counts for the source
of the word it falls on (the nearest within the tolerance), or for `silence`
when it is near no word. Per source, false alarms per word divide by that
source's spoken words (for `silence`: by all spoken words) and false alarms per
hour by the length of the streams that source speaks in (for `silence`: all).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from audio_rnn.errors import DataError
from audio_rnn.spotting.detection import UNKNOWN


# ----------------------------------------------------------------------------- scoring


@dataclass
class Score:
    """Counts over one or more streams; percentages and rates as properties."""

    keywords: int = 0
    others: int = 0  # non-keyword words spoken
    right: int = 0
    wrong: int = 0
    false_alarms: int = 0
    fa_on_words: int = 0  # false alarms on non-keyword words
    seconds: float = 0.0

    def add(self, o: "Score") -> "Score":
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(o, k))
        return self

    def summary(self) -> dict[str, Any]:
        words = self.keywords + self.others
        kw = max(1, self.keywords)
        return {"keywords": self.keywords, "other_words": self.others, "hours": round(self.seconds / 3600, 4),
                "found_right_pct": round(100 * self.right / kw, 2), "wrong_pct": round(100 * self.wrong / kw, 2),
                "missed_pct": round(100 * (self.keywords - self.right - self.wrong) / kw, 2),
                "false_alarms": self.false_alarms, "fa_on_other_words": self.fa_on_words,
                "fa_per_word": round(self.false_alarms / words, 4) if words else None,
                "fa_per_hour": round(self.false_alarms / max(1e-9, self.seconds / 3600), 2)}


def _centres(detections: Iterable[Any]) -> list[tuple[str, float]]:
    """(label, centre) of detections (objects or JSON rows), sorted by time."""
    return sorted(((d.label, (d.start + d.end) / 2) if hasattr(d, "label") else (d["label"], (d["start"] + d["end"]) / 2)
                   for d in detections), key=lambda x: x[1])


def near(c: float, w: dict[str, Any], tolerance: float) -> bool:
    """Whether time `c` lies within +-tolerance of word `w`'s span."""
    return w["start"] - tolerance <= c <= w["end"] + tolerance


def match(detections: Iterable[Any], words: Sequence[dict[str, Any]], tolerance: float = 0.75
          ) -> tuple[dict[int, str], list[tuple[str, float]]]:
    """({word index: 'right' | 'wrong'}, false alarms as (label, centre)) of detections against truth words.

    Right-label matches are made first (nearest word wins), then remaining
    detections take a still-unmatched keyword as a wrong answer; each word takes
    at most one detection; all other detections are false alarms.
    """
    taken: dict[int, str] = {}
    left, fas = [], []

    def dist(c: float, w: dict[str, Any]) -> float:
        return abs(c - (w["start"] + w["end"]) / 2)

    for lab, c in _centres(detections):  # pass 1: right labels
        cands = [i for i, w in enumerate(words) if i not in taken and w["label"] == lab and near(c, w, tolerance)]
        if cands:
            taken[min(cands, key=lambda i: dist(c, words[i]))] = "right"
        else:
            left.append((lab, c))
    for lab, c in left:  # pass 2: wrong labels on unmatched keywords; the rest are false alarms
        cands = [i for i, w in enumerate(words) if i not in taken and w["label"] != UNKNOWN and near(c, w, tolerance)]
        if cands:
            taken[min(cands, key=lambda i: dist(c, words[i]))] = "wrong"
        else:
            fas.append((lab, c))
    return taken, fas


def score(detections: Iterable[Any], words: Sequence[dict[str, Any]], seconds: float,
          tolerance: float = 0.75) -> Score:
    """Counts of `match`: found-and-right, wrong, false alarms (and those on non-keyword words)."""
    taken, fas = match(detections, words, tolerance)
    n_kw = sum(w["label"] != UNKNOWN for w in words)
    fa_words = sum(any(w["label"] == UNKNOWN and near(c, w, tolerance) for w in words) for _, c in fas)
    return Score(keywords=n_kw, others=len(words) - n_kw, right=sum(v == "right" for v in taken.values()),
                 wrong=sum(v == "wrong" for v in taken.values()), false_alarms=len(fas), fa_on_words=fa_words,
                 seconds=float(seconds))


def load_streams(folders: str | Path | Sequence[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(wav path, truth) for every stream of one or more `make-streams` folders."""
    out = []
    for folder in [folders] if isinstance(folders, (str, Path)) else folders:
        folder = Path(folder)
        man = folder / "manifest.json"
        if not man.is_file():
            raise DataError(f"no manifest.json in {folder} (make it with `make-streams`)")
        rows = json.loads(man.read_text())["streams"]
        out += [(folder / r["file"], json.loads((folder / r["truth"]).read_text())) for r in rows]
    return out


def evaluate(folder: str | Path | Sequence[str | Path], spotter: Any, tolerance: float = 0.75, progress: bool = True
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(overall summary, per-stream summaries) of a spotter on a streams folder."""
    from tqdm import tqdm

    total, sources = Score(), SourceTally(tolerance)
    per = []
    for wav, truth in tqdm(load_streams(folder), desc="streams", disable=not progress, unit="stream"):
        dets = spotter.detect(str(wav))
        s = score(dets, truth["words"], truth["duration"], tolerance)
        total.add(s)
        sources.add(dets, truth["words"], truth["duration"])
        per.append({"file": wav.name, "noise": truth.get("noise"), "snr_db": truth.get("snr_db"), **s.summary()})
    summary = total.summary()
    summary["by_source"] = sources.summary()
    summary["found_right_by_source"] = found_right_by_source(summary["by_source"])
    return summary, per


def cache_posteriors(folder: str | Path | Sequence[str | Path], spotter: Any, progress: bool = True
                     ) -> list[tuple[Any, dict[str, Any]]]:
    """[((times, probs), truth)] for every stream of a folder: compute once, score many settings."""
    from tqdm import tqdm

    return [(spotter.posteriors(str(wav))[:2], truth)
            for wav, truth in tqdm(load_streams(folder), desc="posteriors", disable=not progress, unit="stream")]


def tune(cache: list[tuple[Any, dict[str, Any]]], spotter: Any, grid: dict[str, Sequence[Any]],
         max_fa_per_word: float = 0.05, tolerance: float = 0.75) -> list[dict[str, Any]]:
    """Score every detection setting of `grid` on cached posteriors; rows sorted best first.

    Best = most found-and-right among settings with at most `max_fa_per_word` false alarms per word.
    """
    import itertools

    keys = list(grid)
    rows = []
    for values in itertools.product(*(grid[k] for k in keys)):
        cfg = replace(spotter.config, **dict(zip(keys, values)))
        total = Score()
        for (times, probs), truth in cache:
            decider = spotter.decider(config=cfg)  # the spotter's own decider, as `spot` runs it
            dets = decider.feed(times, probs) + decider.close(float(times[-1])) if len(times) else []
            total.add(score(dets, truth["words"],
                            truth["duration"], tolerance))
        rows.append({**dict(zip(keys, values)), **total.summary()})
    rows.sort(key=lambda r: ((r["fa_per_word"] or 0) > max_fa_per_word, -r["found_right_pct"], r["fa_per_word"] or 0))
    return rows


# ----------------------------------------------------------------------------- by word source

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


# ----------------------------------------------------------------------------- CLI


TUNED_KEYS = ("threshold", "smooth_s", "min_s", "suppress_s")


def tune_grid(mode: str) -> dict[str, list[Any]]:
    """The detection settings `eval-streams --tune` searches for a spotter in `mode`."""
    if mode == "vad":  # one classification per segment: the threshold is the whole trade-off
        return {"threshold": [round(0.2 + 0.05 * i, 2) for i in range(16)], "suppress_s": [0.1, 0.3]}
    return {"threshold": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], "smooth_s": [0.1, 0.2, 0.35, 0.5, 0.75],
            "min_s": [0.0, 0.05, 0.1, 0.2, 0.3], "suppress_s": [0.5, 1.0]}


def threshold_curve(rows: Sequence[dict[str, Any]], best: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation trade-off at the best row's other settings: one point per threshold, low to high."""
    others = [k for k in TUNED_KEYS if k != "threshold" and k in best]
    pts = [r for r in rows if all(r.get(k) == best[k] for k in others)]
    return [{"threshold": r["threshold"], "found_right_pct": r["found_right_pct"], "fa_per_word": r["fa_per_word"],
             "fa_per_hour": r["fa_per_hour"]} for r in sorted(pts, key=lambda r: r["threshold"])]


def save_tuned(model: str | None, mode: str | None, best: dict[str, Any], curve: list[dict[str, Any]],
               streams: Sequence[str]) -> Path:
    """Store tuned detection settings as a checkpoint's defaults: `streaming.detection` of a stream-trained
    spotter, or `spotting` (mode, settings, validation curve) of a clip model."""
    from audio_rnn.training import checkpoint, registry

    folder = checkpoint.resolve(registry.spotter(model, mode))
    cfg = checkpoint.load_config(folder, kind="kws")
    tuned = {k: best[k] for k in TUNED_KEYS if k in best}
    if registry.role(cfg) == registry.STREAM:
        registry.update_config(folder, "streaming.detection", tuned)
        return registry.update_config(folder, "streaming", {"curve": curve})
    if mode not in ("vad", "window"):
        raise DataError("--save-tuned on a clip model needs --mode vad or --mode window")
    old = registry.section(cfg, registry.Spotting) if cfg.get("spotting") else registry.Spotting(mode=mode)
    keep = {k: v for k, v in old.settings().items() if k != "mode"} if old.mode == mode else {}
    return registry.save_section(folder, registry.Spotting(**{**keep, "mode": mode, **tuned, "curve": curve,
                                                              "tuned_on": [Path(f).name for f in streams]}))


def configure_eval_streams(p) -> None:
    from audio_rnn.spotting.spot_cli import configure_spot

    p.add_argument("streams", metavar="DIR", nargs="+", help="folders written by make-streams (scored together)")
    p.add_argument("--tolerance", type=float, default=0.75, help="seconds around each word (default 0.75)")
    p.add_argument("--per-stream", action="store_true", help="also print one line per stream")
    p.add_argument("--tune", action="store_true", help="grid-search threshold/smoothing/min/suppression")
    p.add_argument("--save-tuned", action="store_true",
                   help="with --tune: store the best settings in the (stream-trained) model's config as its defaults")
    p.add_argument("--quiet", action="store_true")
    # the spotter's own settings (same flags as `spot`, minus the file)
    tmp = __import__("argparse").ArgumentParser(add_help=False)
    configure_spot(tmp)
    for a in tmp._actions:
        if a.dest not in ("file", "help"):
            p._add_action(a)


def run_eval_streams(args) -> int:
    from audio_rnn.spotting.spot_cli import make_spotter

    load_streams(args.streams)  # a clear error for a wrong folder before the model loads
    spotter = make_spotter(args)
    if args.save_tuned and not (args.tune and (spotter.trained_on_streams or args.mode in ("vad", "window"))):
        raise DataError("--save-tuned goes with --tune, and with a spotter trained by train-spot or a clip model "
                        "in --mode vad or --mode window")
    if args.tune:
        rows = tune(cache_posteriors(args.streams, spotter, not args.quiet), spotter, tune_grid(spotter.config.mode),
                    tolerance=args.tolerance)
        for r in rows[:15]:
            print(json.dumps(r))
        if args.save_tuned:
            path = save_tuned(args.model, args.mode, rows[0], threshold_curve(rows, rows[0]), args.streams)
            print(f"saved the best settings as defaults of {path}")
        return 0
    summary, per = evaluate(args.streams, spotter, args.tolerance, progress=not args.quiet)
    summary = {"streams": args.streams, "config": spotter.config.to_dict(), **summary}
    if args.per_stream:
        for r in per:
            print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()))
    if args.json:
        print(json.dumps(summary))
    else:
        s = summary
        print(f"{s['keywords']} keywords, {s['other_words']} other words, {s['hours'] * 60:.1f} min: "
              f"found-and-right {s['found_right_pct']}%, wrong {s['wrong_pct']}%, missed {s['missed_pct']}%, "
              f"false alarms {s['false_alarms']} ({s['fa_per_word'] if s['fa_per_word'] is not None else '-'}/word, "
              f"{s['fa_per_hour']}/hour)")
        print("by source:\n" + "\n".join(format_rows(s["by_source"])))
    sys.stdout.flush()
    return 0
