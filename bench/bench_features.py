"""Dedup features and MinHash quality: the compiled pass against rensa and datasketch, one run.

Run: ``.venv/bin/python bench/bench_features.py [--stories N] [--pairs N] [--skip-quality]``
(needs requirements/bench.lock for datasketch; about two minutes on 2 cores).

1. Speed, µs a story (thread CPU time, best of five passes), on real stories parsed
   by the real parser: seed-like dpa-AFX (German articles) and English wire text
   (Reuters-21578). Columns: the whole ``features()`` as on main (Python shingles,
   rensa, regex facts: the baseline of the ratios), with ``SIGNATURE = "rensa"``
   (compiled facts, rensa) and with ``SIGNATURE = "compiled"`` (the compiled passes of
   :mod:`consumer.dedup.minhash` and :mod:`consumer.dedup.factscan`); then the
   signature alone (shingles and 128 minima) for each of wirefeed-new, rensa and
   datasketch (``update_batch``, its fastest call).
2. Quality: Jaccard estimates against the exact Jaccard of the pipeline's own shingle
   sets (:func:`consumer.dedup.fingerprint.shingles`) on real pairs: the natural
   Reuters near pairs and recurring reports (exact J >= 0.2), update-like pairs
   (a German or Reuters article's first paragraphs against the whole), and random
   distinct pairs (J near 0). Bias (mean estimate - exact) and spread (standard
   deviation of the error) per exact-J bin, for the 16-bit signatures the index
   stores (wirefeed-new, and rensa as wirefeed stored it), and for rensa's and
   datasketch's full 32-bit minima. ``cross 0.7`` counts pairs the estimate puts on
   the other side of the near-duplicate threshold (``decide.NEAR_J``) than the
   exact Jaccard does.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import _dedup_data as data  # noqa: E402
import datasketch  # noqa: E402
import rensa  # noqa: E402
from bench_dedup_quality import related_pairs  # noqa: E402
from bench_parse import seed_like  # noqa: E402

from consumer.dedup import fingerprint as fp  # noqa: E402
from consumer.dedup import minhash  # noqa: E402
from consumer.dedup.decide import NEAR_J  # noqa: E402
from consumer.parse import parse_bytes  # noqa: E402

Sig = npt.NDArray[np.uint16]


def old_features(norm: str, body: str) -> fp.Features:
    """``features()`` as on main: Python shingles, rensa's MinHash, regex facts."""
    sh = fp.shingles(norm)
    facts, words = fp.python_facts(body)
    return fp.Features(fp.fingerprint(norm), fp.signature(sh), len(set(sh)), facts, words)


def rensa_features(norm: str, body: str) -> fp.Features:
    """``features()`` with ``SIGNATURE = "rensa"``: rensa's MinHash, the compiled facts."""
    sh = fp.shingles(norm)
    facts, words = fp.facts(body)
    return fp.Features(fp.fingerprint(norm), fp.signature(sh), len(set(sh)), facts, words)


def new_features(norm: str, body: str) -> fp.Features:
    """``features()`` with ``SIGNATURE = "compiled"``: shingles, signature and facts compiled;
    the fingerprint hashes the same UTF-8 bytes."""
    encoded = norm.encode("utf-8")
    sig, count = minhash.minhash(np.frombuffer(encoded, dtype=np.uint8))
    facts, words = fp.facts(body)
    return fp.Features(hashlib.blake2b(encoded, digest_size=16).digest(), sig, count, facts,
                       words)


def new_signature(norm: str) -> Sig:
    return minhash.minhash(minhash.text_bytes(norm))[0]


def rensa_full(tokens: list[str]) -> npt.NDArray[np.uint32]:
    mh = rensa.RMinHash(fp.NUM_PERM, fp.SEED)
    mh.update(tokens)
    return np.asarray(mh.digest(), dtype=np.uint32)


def datasketch_sig(tokens: list[str]) -> datasketch.MinHash:
    m = datasketch.MinHash(num_perm=fp.NUM_PERM, seed=fp.SEED)
    m.update_batch([t.encode("utf-8") for t in tokens])
    return m


def cpu_us(fn: Callable[[int], object], n: int, passes: int = 5) -> float:
    """Best of ``passes`` thread-CPU-time passes over items 0..n-1, µs an item."""
    best = float("inf")
    for _ in range(passes):
        t = time.thread_time()
        for i in range(n):
            fn(i)
        best = min(best, time.thread_time() - t)
    return best / n * 1e6


def speed(n: int) -> None:
    groups = {
        "dpa-AFX seed-like (de)": seed_like(n),
        "English wire (Reuters)": [
            f"date 1987-03-02\n{r.get('title') or 'X'}\n\n{r.get('dateline') or ''} "
            f"{r['text']}".encode() for r in data.reuters()[:n]
        ],
    }
    minhash.warm()
    print("1. features, µs a story (thread CPU time, best of 5; ratio = main / this). main: "
          "Python shingles, rensa, regex facts; rensa: compiled facts (SIGNATURE='rensa', "
          "the default); compiled: all compiled (SIGNATURE='compiled')")
    print(f"   {'input':26s} {'stories':>7s} {'words':>6s} | {'main':>7s} {'rensa':>7s} "
          f"{'ratio':>6s} {'compld':>7s} {'ratio':>6s} | {'sig: new':>8s} {'rensa':>7s} "
          f"{'datasketch':>10s}")
    for name, raws in groups.items():
        speed_row(name, raws)
    print("   sig: shingles + 128 minima from the normalised text; ratios sig rensa / new "
          "and datasketch / new are the speed-ups of the compiled pass")


def speed_row(name: str, raws: list[bytes]) -> None:
    stories = [parse_bytes(r) for r in raws]
    norms = [s.normalized_text for s in stories]
    bodies = [" ".join(b.text for b in s.body) for s in stories]
    words = sum(len(fp.shingles(t)) for t in norms) / len(norms) + 2
    k = len(stories)
    old = cpu_us(lambda i: old_features(norms[i], bodies[i]), k)
    mid = cpu_us(lambda i: rensa_features(norms[i], bodies[i]), k)
    new = cpu_us(lambda i: new_features(norms[i], bodies[i]), k)
    s_new = cpu_us(lambda i: new_signature(norms[i]), k)
    s_rensa = cpu_us(lambda i: fp.signature(fp.shingles(norms[i])), k)
    s_ds = cpu_us(lambda i: datasketch_sig(fp.shingles(norms[i])), k, passes=2)
    print(f"   {name:26s} {k:7d} {words:6.0f} | {old:7.1f} {mid:7.1f} {old / mid:5.1f}x "
          f"{new:7.1f} {old / new:5.1f}x | {s_new:8.1f} {s_rensa:7.1f} {s_ds:10.1f}")


def _pairs(max_pairs: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(kind, text a, text b), normalised as the parser does (blocks joined, casefolded)."""
    en = data.reuters()
    de = data.german()

    def norm(paras: Sequence[str]) -> str:
        return " ".join(" ".join(p.split()) for p in paras).casefold()

    out: list[tuple[str, str, str]] = []
    texts = [norm(data.paragraphs(r)) for r in en]
    natural = [(i, j) for (i, j) in related_pairs(texts, 0.2) if texts[i] != texts[j]]
    rng.shuffle(natural)
    out += [("natural", texts[i], texts[j]) for i, j in natural[: max_pairs // 2]]
    multi = [r for r in en + de if len(data.paragraphs(r)) >= 3]
    for r in rng.sample(multi, min(len(multi), max_pairs // 4)):
        paras = data.paragraphs(r)
        keep = rng.randrange(1, len(paras))
        out.append(("update", norm(paras[:keep]), norm(paras)))
    pool = [norm(data.paragraphs(r)) for r in rng.sample(en + de, 2 * (max_pairs // 4))]
    out += [("random", a, b) for a, b in zip(pool[::2], pool[1::2], strict=True)]
    return out


def quality(max_pairs: int) -> None:
    rng = random.Random(22)
    pairs = _pairs(max_pairs, rng)
    exact, est = [], {k: [] for k in ("wirefeed-new 16b", "rensa 16b (old)", "rensa 32b",
                                      "datasketch 32b")}
    for _, a, b in pairs:
        sa, sb = fp.shingles(a), fp.shingles(b)
        set_a, set_b = set(sa), set(sb)
        exact.append(len(set_a & set_b) / len(set_a | set_b))
        est["wirefeed-new 16b"].append(fp.jaccard(new_signature(a), new_signature(b)))
        est["rensa 16b (old)"].append(fp.jaccard(fp.signature(sa), fp.signature(sb)))
        ra, rb = rensa_full(sa), rensa_full(sb)
        est["rensa 32b"].append(float(np.count_nonzero(ra == rb)) / fp.NUM_PERM)
        est["datasketch 32b"].append(datasketch_sig(sa).jaccard(datasketch_sig(sb)))
    ex = np.array(exact)
    kinds: dict[str, int] = {}
    for kind, _, _ in pairs:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"\n2. Jaccard estimate - exact Jaccard on {len(pairs)} real pairs {kinds}")
    bins = [(0.0, 0.1), (0.1, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.85), (0.85, 1.0001)]
    header = f"   {'exact J':>11s} {'pairs':>6s}"
    for name in est:
        header += f" | {name:>20s}"
    print(header)
    print(f"   {'':>11s} {'':>6s}" + " | {:>9s} {:>10s}".format("bias", "spread") * len(est))
    for lo, hi in [*bins, (0.0, 1.0001)]:
        sel = (ex >= lo) & (ex < hi)
        if not sel.any():
            continue
        label = "all" if (lo, hi) == (0.0, 1.0001) else f"{lo:.2f}-{min(hi, 1):.2f}"
        line = f"   {label:>11s} {int(sel.sum()):6d}"
        for values in est.values():
            err = np.array(values)[sel] - ex[sel]
            line += f" | {err.mean():+9.4f} {err.std():10.4f}"
        print(line)
    line = f"   {'cross ' + str(NEAR_J):>11s} {len(ex):6d}"
    for values in est.values():
        v = np.array(values)
        line += f" | {int(((v >= NEAR_J) != (ex >= NEAR_J)).sum()):>20d}"
    print(line)
    print("   bias = mean(estimate - exact), spread = std(estimate - exact); the 16-bit rows "
          "are what the index stores and compares (fingerprint.jaccard's b-bit correction)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stories", type=int, default=400)
    ap.add_argument("--pairs", type=int, default=4000)
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    speed(args.stories)
    if not args.skip_quality:
        quality(args.pairs)


if __name__ == "__main__":
    main()
