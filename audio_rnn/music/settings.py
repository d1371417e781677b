"""One set of generation defaults: what `generate` with no options and the app's Generate button both use.

Sampling temperature, top-k, length, the guards (meter and repeat structure)
and how many times an invalid tune is sampled again; the app's sliders start
here and the command line's options default to the same values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GenerateDefaults:
    """Defaults shared by the `generate` command and the app's Generate button."""

    temperature: float = 0.7
    top_k: int = 0
    top_p: float = 1.0
    length: int = 2000  # maximum sampled characters: the longest shipped-model tunes stay under it
    until_valid: int = 4  # an invalid tune (it includes "will not render") is sampled again, with a new seed
    guard: bool = True  # meter guard + structure guard while sampling


DEFAULTS = GenerateDefaults()
