"""Keyword models side by side on the validation speakers of each Speech Commands folder, at several thresholds.

    .venv/bin/python benchmarks/kws_origins.py --model digits --model runs/digits3 \
        --data ../shared/data/speech_commands --data ../shared/data/speech_commands_v0.01 [--fsdd-speaker george]

For each model and keyword threshold (a keyword scored below it is `_unknown_`, as `classify` decides), per
folder: keywords named right, other words rejected, backgrounds called `_silence_`, 12-class accuracy; and,
with --fsdd-speaker, that FSDD speaker's digits. The clips are scored as recorded, as `classify` sees files.
Validation speakers are a fixed ~20% by speaker hash, never trained on by any model here; a model whose epoch
was chosen on them is scored optimistically.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rates(pred: np.ndarray, true: np.ndarray, labels: list[str]) -> dict[str, float | None]:
    """Keyword accuracy, other words rejected, silence recall and plain accuracy of label indices."""
    sil, unk = labels.index("_silence_"), labels.index("_unknown_")
    kw = ~np.isin(true, [sil, unk])
    out = {"keywords": (pred[kw] == true[kw]).mean() if kw.any() else None,
           "others_rejected": np.isin(pred[true == unk], [sil, unk]).mean() if (true == unk).any() else None,
           "silence": (pred[true == sil] == sil).mean() if (true == sil).any() else None,
           "accuracy": (pred == true).mean(), "n": int(len(true))}
    return {k: (round(float(v) * 100, 1) if v is not None and k != "n" else v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", required=True)
    p.add_argument("--data", action="append", required=True, help="Speech Commands folders (validation split)")
    p.add_argument("--fsdd-speaker", action="append", default=[], help="also score this FSDD speaker's digits")
    p.add_argument("--thresholds", default="0,0.3,0.4,0.5,0.6")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    import torch

    from audio_rnn.keywords.data import load_fsdd, load_speech_commands_folder
    from audio_rnn.keywords.recognize import Recognizer, decide

    torch.set_num_threads(1)
    rows = []
    for m in args.model:
        rec = Recognizer(m)
        sets = {Path(d).name: [c for c in load_speech_commands_folder(d, rec.labels) if c.split == "val"]
                for d in args.data}
        if args.fsdd_speaker:
            fsdd = str(ROOT.parent / "shared" / "data" / "fsdd")
            sets["fsdd:" + ",".join(args.fsdd_speaker)] = load_fsdd(fsdd, speakers=args.fsdd_speaker)
        unknown = rec.labels.index("_unknown_")
        for name, clips in sets.items():
            probs = torch.softmax(rec.logits([c.wave for c in clips]), -1).numpy()
            true = np.array([rec.labels.index(c.label) for c in clips])
            for th in [float(t) for t in args.thresholds.split(",")]:
                pred = np.array([decide(q, rec.labels, th, unknown) for q in probs])
                rows.append({"model": m, "set": name, "threshold": th, **rates(pred, true, rec.labels)})
                if not args.json:
                    r = rows[-1]
                    print(f"{m:>22} {name:>22} th {th:.1f}: keywords {r['keywords']}  others rejected "
                          f"{r['others_rejected']}  silence {r['silence']}  accuracy {r['accuracy']}  (n={r['n']})")
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
