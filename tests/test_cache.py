"""The match-model cache: causal, a proper distribution, helps on repeats, harmless on noise."""

import numpy as np

from audio_rnn.music.copy_cache import CacheConfig, mix_match


def _ids(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64)


def test_each_position_depends_only_on_what_came_before():
    rng = np.random.default_rng(0)
    text = "abcabcabdXYZabcabcab" * 5
    ids = _ids(text)
    p = rng.uniform(0.01, 0.5, len(ids))
    full, _ = mix_match(ids, p)
    for cut in (7, 23, 60, len(ids) - 1):
        head, _ = mix_match(ids[:cut], p[:cut])
        np.testing.assert_allclose(head, full[:cut])
        other = ids.copy()
        other[cut:] = (other[cut:] + 1) % 128  # a different future leaves the past's bits alone
        changed, _ = mix_match(other, p)
        np.testing.assert_allclose(changed[:cut], full[:cut])


def test_mixture_is_a_proper_distribution_over_the_next_character():
    """Summing P(c) over every possible next character gives one, at positions with and without a copy."""
    vocab = 6
    rng = np.random.default_rng(1)
    prefix = rng.integers(0, vocab, 40).tolist() * 3  # repeats: the cache proposes copies
    for cut in (10, 45, 90, 119):
        total = 0.0
        for c in range(vocab):
            seq = np.asarray(prefix[:cut] + [c], dtype=np.int64)
            bits, _ = mix_match(seq, np.full(len(seq), 1 / vocab))  # a uniform network
            total += 2.0 ** -bits[-1]
        assert abs(total - 1) < 1e-9, (cut, total)


def test_repeats_cost_far_fewer_bits_and_noise_costs_about_nothing():
    rng = np.random.default_rng(2)
    tune = "".join(rng.choice(list("ABCDEFGabcdefg |2"), 200))
    ids = _ids(tune * 4)
    p = np.full(len(ids), 1 / 20)  # the network alone: log2(20) = 4.32 bits everywhere
    bits, stats = mix_match(ids, p)
    assert bits[:200].mean() < 4.33  # first reading: at most a little lost to spurious short matches
    assert bits[400:].mean() < 0.5 and stats["hits"] > 500  # the repeats are copied
    noise = rng.integers(0, 128, 3000)
    nb, _ = mix_match(noise, np.full(len(noise), 1 / 128))
    assert abs(nb.mean() - 7.0) < 0.01


def test_min_len_is_respected():
    ids = _ids("abcdXabcdY" * 3)
    _, short = mix_match(ids, np.full(len(ids), 0.1), CacheConfig(min_len=2))
    _, long = mix_match(ids, np.full(len(ids), 0.1), CacheConfig(min_len=12))
    assert short["proposals"] > long["proposals"]
