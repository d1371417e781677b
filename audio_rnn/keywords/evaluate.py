"""Evaluate a keyword model against the project's speaker-independent targets, and on any data folder.

Test conditions (all on voices the model never trained on):
- `fsdd_unseen_speaker`: clean FSDD clips of held-out speakers (target >= 95%).
- `sc_style_digits`: Speech-Commands-style 16 kHz one-second clips: held-out FSDD
  speakers pitch-shifted up 2-6 semitones (towards female voices) and held-out
  espeak-ng voices, with noise, reverberation and random placement (target >= 70%).
- `unknown_rejected`: non-digit words by held-out espeak-ng voices -> `_unknown_`
  or `_silence_` (target >= 70%).
- `silence`: digital silence, coloured noise, hum and room tone -> `_silence_` (target >= 95%).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from audio_rnn.audio.augment import AugmentConfig, augment_speech, pitch_shift
from audio_rnn.keywords.data import DIGITS, LABELS, SILENCE, SR, UNKNOWN, WINDOW, Clip, silence_clips

TARGETS = {"fsdd_unseen_speaker": 0.95, "sc_style_digits": 0.70, "unknown_rejected": 0.70, "silence": 0.95,
           # real Speech Commands speakers the model never trained on (the share's validation speakers)
           "real_keywords": 0.90, "real_unknown_rejected": 0.95, "real_silence": 0.99, "real_accuracy": 0.92}
# which real-speech targets a vocabulary is held to: the digit model's three, the commands model's 12-class one
REAL_TARGETS = {"digits": ("real_keywords", "real_unknown_rejected", "real_silence"), "commands": ("real_accuracy",)}
# the "wild" test condition: no speed change (pitch is shifted separately), always some noise
WILD = AugmentConfig(p_speed=0.0, p_pitch=0.0, p_reverb=0.3, rt60_range=(0.15, 0.5), p_noise=1.0,
                     snr_range=(10.0, 30.0), gain_db_range=(-15.0, 0.0))
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FSDD = Path(os.environ.get("AUDIO_RNN_FSDD", ROOT.parent / "shared" / "data" / "fsdd" / "recordings"))
DEFAULT_SPEECH_COMMANDS = Path(os.environ.get("AUDIO_RNN_SPEECH_COMMANDS",
                                              ROOT.parent / "shared" / "data" / "speech_commands"))


def scores(true: Sequence[str], pred: Sequence[str], labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """Accuracy, per-class recall and the confusion matrix (rows: true label, columns: predicted)."""
    idx = {lab: i for i, lab in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(true, pred):
        cm[idx[t], idx[p]] += 1
    support = cm.sum(1)
    recall = {lab: (round(float(cm[i, i] / support[i]), 4) if support[i] else None) for i, lab in enumerate(labels)}
    n = int(cm.sum())
    return {"n": n, "accuracy": round(float(np.trace(cm) / n), 4) if n else None, "per_class_recall": recall,
            "labels": list(labels), "confusion": cm.tolist()}


def wild_waves(clips: Sequence[Clip], seed: int, pitch_up: bool = False) -> list[np.ndarray]:
    """Speech-Commands-style versions: optional pitch-up, then placement in 1 s, room and noise."""
    rng = np.random.default_rng(seed)
    out = []
    for c in clips:
        y = c.wave
        if pitch_up:
            y = pitch_shift(y, SR, float(rng.uniform(2.0, 6.0)))
        out.append(augment_speech(y, SR, WINDOW, rng, WILD))
    return out


def synth_test_set(folder: str | Path, seed: int = 4321, per_digit: int = 30, per_unknown: int = 4) -> Path:
    """A fresh espeak-ng set of held-out test voices only (never in any training split)."""
    from audio_rnn.keywords.synth_speech import TEST_VARIANTS, write_set

    write_set(folder, per_digit, per_unknown, seed, progress=False, only_variants=TEST_VARIANTS)
    return Path(folder)


def plot_confusion(result: dict[str, Any], path: str | Path, title: str = "confusion") -> None:
    """Save a confusion-matrix heatmap (rows normalised) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(result["confusion"], dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    labels = result["labels"]
    fig, ax = plt.subplots(figsize=(7, 6))
    try:
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if cm[i, j]:
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
    finally:
        plt.close(fig)


def target_suite(recognizer, fsdd_root: str | Path | None, speakers: Iterable[str], synth_test: str | Path | None,
                 seed: int = 777, n_silence: int = 300, progress: bool = True) -> dict[str, Any]:
    """Measure every target on held-out speakers/voices; returns the report dict."""
    from tqdm import tqdm

    from audio_rnn.keywords.data import load_fsdd, load_synth

    speakers = list(speakers)
    report: dict[str, Any] = {"targets": {}, "conditions": {}}
    all_true: list[str] = []
    all_pred: list[str] = []

    def run(name: str, clips: Sequence[Clip], waves: Sequence[np.ndarray]) -> dict[str, Any]:
        preds = [r.label for r in recognizer.classify_waves(list(waves))]
        true = [c.label for c in clips]
        res = scores(true, preds, recognizer.labels)
        res["rejected"] = round(float(np.mean([p in (UNKNOWN, SILENCE) for p in preds])), 4) if preds else None
        report["conditions"][name] = res
        all_true.extend(true)
        all_pred.extend(preds)
        return res

    steps = tqdm(total=4, desc="evaluate", disable=not progress)
    if fsdd_root is not None and speakers:
        fsdd = load_fsdd(fsdd_root, speakers=speakers)
        clean = run("fsdd_unseen_speaker", fsdd, [c.wave for c in fsdd])
        ok = np.array([t == p for t, p in zip(all_true[-len(fsdd):], all_pred[-len(fsdd):])])
        clean["per_speaker"] = {s: round(float(ok[[c.speaker == s for c in fsdd]].mean()), 4) for s in speakers}
        report["targets"]["fsdd_unseen_speaker"] = clean["accuracy"]
        steps.update()
        run("sc_style_fsdd_pitched_up", fsdd, wild_waves(fsdd, seed, pitch_up=True))
    steps.update()
    digits_ok: list[float] = []
    if synth_test is not None:
        synth = [c for c in load_synth(synth_test) if c.split == "test"]
        dig = [c for c in synth if c.label in DIGITS]
        unk = [c for c in synth if c.label == UNKNOWN]
        if dig:
            run("sc_style_espeak_test_voices", dig, wild_waves(dig, seed + 1))
        if unk:
            res = run("unknown_words_test_voices", unk, wild_waves(unk, seed + 2))
            report["targets"]["unknown_rejected"] = res["rejected"]
    steps.update()
    for name in ("sc_style_fsdd_pitched_up", "sc_style_espeak_test_voices"):
        c = report["conditions"].get(name)
        if c:
            digits_ok.extend([c["accuracy"]] * c["n"])
    if digits_ok:
        report["targets"]["sc_style_digits"] = round(float(np.mean(digits_ok)), 4)
    sil = silence_clips(n_silence, seed + 3, split="test")
    res = run("silence", sil, [c.wave for c in sil])
    report["targets"]["silence"] = res["per_class_recall"][SILENCE]
    steps.update()
    steps.close()
    report["overall"] = scores(all_true, all_pred, recognizer.labels)
    report["pass"] = {k: (v is not None and v >= TARGETS[k]) for k, v in report["targets"].items()}
    report["target_thresholds"] = TARGETS
    report["heldout_fsdd_speakers"] = speakers
    return report


def vocabulary(labels: Sequence[str]) -> str | None:
    """'digits' or 'commands' when the labels are one of the shipped vocabularies, else None."""
    from audio_rnn.keywords.data import VOCABULARIES

    return next((name for name, labs in VOCABULARIES.items() if list(labs) == list(labels)), None)


def real_suite(recognizer, root: str | Path | Sequence[str | Path], split: str = "val", progress: bool = True
               ) -> dict[str, Any]:
    """Score real Speech Commands clips of one split (default: the validation speakers, never trained on).

    `root` may be several folders (v0.02 and v0.01 share speaker hashes, so their validation speakers are
    never trained on by either): the figures pool them, and `by_origin` gives each folder's own.
    Reports 12-class accuracy, per-class recall and confusion, keyword accuracy, the
    rejection of every non-keyword word (with the words that fire most) and silence recall.
    """
    from audio_rnn.keywords.data import load_speech_commands_folder

    labels = recognizer.labels
    roots = [root] if isinstance(root, (str, Path)) else list(root)
    clips = [c for r in roots for c in load_speech_commands_folder(r, labels, progress=progress) if c.split == split]
    if not clips:
        raise ValueError(f"no {split} clips in {', '.join(map(str, roots))}")
    results = recognizer.classify_waves([c.wave for c in clips])
    preds = [r.label for r in results]
    probs = np.asarray([[r.probs[lab] for lab in labels] for r in results])
    from audio_rnn.keywords.recognize import decide

    res = _real_scores(clips, preds, labels)
    res.update({"split": split, "keyword_threshold": recognizer.keyword_threshold,
                "threshold_sweep": threshold_sweep(probs, [c.label for c in clips], labels, decide)})
    if len(roots) > 1:
        res["by_origin"] = {o: {k: v for k, v in _real_scores([c for c in clips if c.origin == o],
                                                               [p for c, p in zip(clips, preds) if c.origin == o],
                                                               labels).items() if k not in ("confusion", "per_class")}
                            for o in sorted({c.origin for c in clips})}
    return res


def _real_scores(clips: Sequence[Clip], preds: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """`scores` of real clips plus keyword accuracy, other words rejected (and what fires), silence recall."""
    from collections import Counter

    true = [c.label for c in clips]
    res = scores(true, preds, labels)
    kw = [(t, p) for t, p in zip(true, preds) if t not in (UNKNOWN, SILENCE)]
    other = [(c, p) for c, p in zip(clips, preds) if c.label == UNKNOWN]
    sil = [p for t, p in zip(true, preds) if t == SILENCE]
    fired = Counter((c.name.split("/")[0], p) for c, p in other if p not in (UNKNOWN, SILENCE))
    res.update({
        "speakers": len({c.speaker for c in clips if c.label != SILENCE}),
        "keyword_accuracy": round(float(np.mean([t == p for t, p in kw])), 4) if kw else None,
        "unknown_rejected": round(float(np.mean([p in (UNKNOWN, SILENCE) for _, p in other])), 4) if other else None,
        "false_accept_rate": round(float(np.mean([p not in (UNKNOWN, SILENCE) for _, p in other])), 4) if other else None,
        "silence_recall": round(float(np.mean([p == SILENCE for p in sil])), 4) if sil else None,
        "top_false_accepts": [{"word": w, "as": p, "n": n} for (w, p), n in fired.most_common(10)],
        "n_keywords": len(kw), "n_unknown": len(other), "n_silence": len(sil),
    })
    return res


SWEEP = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def threshold_sweep(probs: np.ndarray, true: Sequence[str], labels: Sequence[str], decide,
                    thresholds: Sequence[float] = SWEEP) -> list[dict[str, Any]]:
    """Keyword accuracy, rejection of other words and silence recall if keywords below each threshold were
    `_unknown_`: the trade-off a threshold buys, measured on the same clips."""
    unknown = list(labels).index(UNKNOWN) if UNKNOWN in labels else None
    is_kw = np.array([t not in (UNKNOWN, SILENCE) for t in true])
    is_unk = np.array([t == UNKNOWN for t in true])
    is_sil = np.array([t == SILENCE for t in true])
    rows = []
    for th in thresholds:
        pred = np.array([labels[decide(p, labels, th, unknown)] for p in probs])
        rows.append({"threshold": th,
                     "keyword_accuracy": round(float((pred == np.array(true))[is_kw].mean()), 4) if is_kw.any() else None,
                     "unknown_rejected": round(float(np.isin(pred[is_unk], [UNKNOWN, SILENCE]).mean()), 4)
                     if is_unk.any() else None,
                     "silence_recall": round(float((pred[is_sil] == SILENCE).mean()), 4) if is_sil.any() else None,
                     "accuracy": round(float((pred == np.array(true)).mean()), 4)})
    return rows


def add_real(report: dict[str, Any], res: dict[str, Any], labels: Sequence[str]) -> None:
    """Put a `real_suite` result and its targets into a report."""
    report.setdefault("conditions", {})["real_speech_commands_" + res["split"]] = {
        **res, "rejected": res["unknown_rejected"]}
    found = {"real_keywords": res["keyword_accuracy"], "real_unknown_rejected": res["unknown_rejected"],
             "real_silence": res["silence_recall"], "real_accuracy": res["accuracy"]}
    for k in REAL_TARGETS.get(vocabulary(labels) or "", ("real_accuracy",)):
        report.setdefault("targets", {})[k] = found[k]
    report.setdefault("pass", {}).update(
        {k: (v is not None and v >= TARGETS[k]) for k, v in report["targets"].items()})
    report["target_thresholds"] = TARGETS


def write_report(report: dict[str, Any], out: str | Path) -> None:
    """report.json + confusion.png (all test conditions pooled) into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    real = next((c for k, c in report.get("conditions", {}).items() if k.startswith("real_speech_commands")), None)
    if "overall" in report:
        plot_confusion(report["overall"], out / "confusion.png", "held-out speakers/voices, all conditions")
    if real is not None:
        plot_confusion(real, out / "confusion_real.png",
                       f"real Speech Commands speakers ({real['split']}, {real['speakers']} speakers)")


def summary_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for k, v in report.get("targets", {}).items():
        ok = "PASS" if report["pass"].get(k) else "MISS"
        lines.append(f"{k:<22} {v if v is None else f'{100 * v:5.1f}%'}  (target {100 * TARGETS[k]:.0f}%) {ok}")
    for k, c in report.get("conditions", {}).items():
        lines.append(f"  {k:<30} n={c['n']:<5} accuracy={c['accuracy']}  rejected={c['rejected']}")
        if k.startswith("real_"):
            fa = ", ".join(f"{f['word']}->{f['as']} {f['n']}" for f in c["top_false_accepts"][:5])
            lines.append(f"    keywords {c['keyword_accuracy']}  other words rejected {c['unknown_rejected']}  "
                         f"silence {c['silence_recall']}  ({c['speakers']} speakers){'  fires: ' + fa if fa else ''}")
            for o, r in (c.get("by_origin") or {}).items():
                lines.append(f"    {o}: accuracy {r['accuracy']}  keywords {r['keyword_accuracy']}  other words "
                             f"rejected {r['unknown_rejected']}  silence {r['silence_recall']}  ({r['speakers']} "
                             f"speakers, {r['n']} clips)")
            lines.append("    keyword threshold -> keywords / other words rejected: " + ", ".join(
                f"{r['threshold']}: {r['keyword_accuracy']}/{r['unknown_rejected']}" for r in c["threshold_sweep"]))
    return lines


# ----------------------------------------------------------------------------- CLI


def save_threshold(model: str | None, threshold: float) -> Path:
    """Write `decision.keyword_threshold` into a keyword checkpoint's config (its weights stay untouched)."""
    from audio_rnn.errors import DataError
    from audio_rnn.training import registry

    if not 0.0 <= threshold < 1.0:
        raise DataError(f"--save-threshold must be in [0, 1), got {threshold}")
    from audio_rnn.keywords.recognize import model_path
    from audio_rnn.training import checkpoint

    old = registry.section(checkpoint.load_config(model_path(model), kind="kws"), registry.Decision)
    return registry.save_section(model, registry.Decision(threshold, old.rule))


def configure_eval_kws(p) -> None:
    p.add_argument("--model", help="digits (default), commands, or a keyword checkpoint folder/file")
    p.add_argument("--fsdd", default=str(DEFAULT_FSDD), help="FSDD recordings folder")
    p.add_argument("--speech-commands", action="append", default=None,
                   help="Speech Commands folder (<word>/<speaker>_nohash_<n>.wav|flac): its validation speakers are "
                        f"scored (default {DEFAULT_SPEECH_COMMANDS}; '' to skip); repeat it to pool folders "
                        "(e.g. speech_commands_v0.01 too): figures per folder under by_origin")
    p.add_argument("--speakers", help="comma-separated FSDD speakers to test on (default: the model's held-out ones)")
    p.add_argument("--synth-test", help="espeak-ng test set (manifest); default: synthesise held-out test voices")
    p.add_argument("--data", action="append", default=[],
                   help="also score a data folder (root/<label>/*.wav, Speech Commands, manifest); repeatable")
    p.add_argument("--out", help="write report.json and confusion.png here")
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--save-threshold", type=float, default=None, metavar="P",
                   help="store P as the model's keyword threshold (a keyword scored below it is _unknown_); "
                        "choose it from the report's threshold_sweep on validation speakers")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run_eval_kws(args) -> int:
    import torch

    from audio_rnn.keywords.data import load_any
    from audio_rnn.errors import DataError
    from audio_rnn.keywords.recognize import Recognizer

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    if args.save_threshold is not None:
        save_threshold(args.model, args.save_threshold)
    rec = Recognizer(args.model)
    held = rec.config.get("training", {}).get("holdout_speakers", [])
    speakers = [s for s in (args.speakers.split(",") if args.speakers else held) if s]
    if args.fsdd and speakers and not Path(args.fsdd).is_dir():
        raise DataError(f"FSDD folder not found: {args.fsdd}")
    sc_dirs = [d for d in (args.speech_commands or [str(DEFAULT_SPEECH_COMMANDS)]) if d]
    for d in sc_dirs:
        if not Path(d).is_dir() and d != str(DEFAULT_SPEECH_COMMANDS):
            raise DataError(f"Speech Commands folder not found: {d}")
    sc_dirs = [d for d in sc_dirs if Path(d).is_dir()]
    if vocabulary(rec.labels) == "digits":  # the digit suite: FSDD speakers, espeak-ng test voices, noises
        with tempfile.TemporaryDirectory() as tmp:
            synth = args.synth_test or synth_test_set(Path(tmp) / "synth_test")
            report = target_suite(rec, args.fsdd if speakers else None, speakers, synth, args.seed,
                                  progress=not args.json)
    else:
        report = {"targets": {}, "conditions": {}, "pass": {}}
    if sc_dirs:
        add_real(report, real_suite(rec, sc_dirs, progress=not args.json), rec.labels)
    for d in args.data:
        clips = load_any(d, rec.labels)
        preds = [r.label for r in rec.classify_waves([c.wave for c in clips])]
        report["conditions"][f"data:{d}"] = {**scores([c.label for c in clips], preds, rec.labels),
                                             "rejected": None}
    if args.out:
        write_report(report, args.out)
    if args.json:
        print(json.dumps(report))
    else:
        print("\n".join(summary_lines(report)))
    return 0
