"""The dedup decision for one story against the held window. Pure: reads the index only.

Order of checks, and why:

1. **exact** fingerprint match: cheapest and certain.
2. **agency id** with a higher version: the agency itself says "new version
   of story X", which beats any text heuristic (a correction may change one
   figure, an update may rewrite the lede).
3. **LSH candidates**, verified by signature Jaccard ``J``, containment of the
   held text in the new one ``C``, and the *facts* (numbers, names):

   * update/roundup flag, ``C >= LINK_C`` and the text grew -> ``story.updated``
     (checked before ``near``: a ROUNDUP adding one short paragraph stays
     above the near threshold but is news);
   * ``repeat`` flag (WDH) and ``J >= REPEAT_J`` -> duplicate ``repeat``: the
     agency declares it a repeat; WDH often re-sends to fix a typo, so facts
     are not required to match.
   * near: facts equal (numbers exactly, names up to one-edit typo fixes of
     each word, however often it occurs) and ``J >= NEAR_J``, or, where typo
     fixes pull J below that (a short story, a name fixed in every occurrence),
     ``J >= LINK_J`` and no more shingles differ on either side than the edits
     explain (:func:`edits_explain`) -> duplicate
     ``near``, or ``story.corrected`` if flagged.
   * correction flag and (``J >= LINK_J`` or ``C >= LINK_C`` either way) ->
     ``story.corrected``.
   * update/roundup flag and ``C >= LINK_C`` -> ``story.updated``.
   * unflagged but ``C >= EXTEND_C``, clearly longer and keeping every old fact
     -> ``story.updated``: an agency re-send that keeps the whole story and
     adds paragraphs is a new version whether or not the slug says so.

**A changed figure without a correction flag is a new story** (``story.created``).
Agencies flag corrections explicitly (dpa ``KORREKTUR``/``Berichtigung``,
Reuters ``CORRECTED``); unflagged text that differs only in numbers is, in
practice, the next instance of a boilerplate report (fixings, earnings,
market closes). Calling it a silent correction would overwrite a real,
different story in downstream systems; a spurious extra story is the cheaper
error, and the newsroom sees both.

``bench/bench_dedup_quality.py`` chooses NEAR_J on one half of its real
articles and reports every figure on the other half; the properties in
``tests/unit/test_dedup_properties.py`` check the rules, not a threshold, on
random edits of real articles.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal

from consumer.dedup.fingerprint import (
    NUM_PERM,
    SHINGLE,
    Features,
    from_matches,
    jaccard,
    token_crcs,
    typo_variants,
)
from consumer.dedup.index import Index
from consumer.dedup.state import StateEntry
from consumer.model import Story

NEAR_J = 0.70
REPEAT_J = 0.70
LINK_J = 0.50
LINK_C = 0.60
EXTEND_C = 0.90
EXTEND_GROWTH = 1.2
UPDATE_GROWTH = 1.05
TYPO_MIN_LEN = 5
# 3- and 4-letter names: a dropped, added or swapped letter counts as a typo ("Hong"/
# "Hog"), a replaced one does not: it is too often another name ("Iran"/"Irak")
SHORT_MIN_LEN = 3
# occurrences of one word searched for its misspelt form (each costs one crc reversal)
TYPO_KMAX = 32
# a word edit changes up to SHINGLE shingles a side; 2 more for the MinHash estimate
EDIT_SLACK = 2
FREE_EDITS = 2  # word edits a near re-send may hold outside the facts (lower-case words)

Kind = Literal["created", "updated", "corrected", "duplicate"]
DupReason = Literal["exact", "near", "repeat"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a story. ``matched`` is the held version it relates to."""

    kind: Kind
    reason: DupReason | None = None
    similarity: float | None = None
    matched: StateEntry | None = None
    supersedes: str | None = None
    basis: str = "none"  # which rule fired: for metrics and debugging


def story_flags(story: Story) -> tuple[bool, bool, bool]:
    """(repeat, correction, update) as the parsers flag them."""
    flags = set(story.flags)
    update = bool({"update", "roundup"} & flags) or story.roundup_level is not None
    return "repeat" in flags, "correction" in flags, update


# --- typo-tolerant facts --------------------------------------------------------
# A held story's facts are crc32 values of ``name + NUL + k`` (see fingerprint); its
# words are not kept. To ask "is this held fact a one-edit variant of one of our
# names?", each held fact is run backwards to the one crc32 its word must have for
# each k (:func:`~consumer.dedup.fingerprint.token_crcs`), and a name's ~500 variants
# are hashed once, without any k. Hashing every variant with every k (up to 8) and
# intersecting made single records take 5-16 ms, the worst tail of the latency bench.

VariantMemo = dict[str, frozenset[int]]


def _variant_crcs(word: str, memo: VariantMemo | None, *, short: bool = False
                  ) -> frozenset[int]:
    """crc32 of every one-edit variant of ``word`` (kept in ``memo`` for the other
    candidates of the same decision). A name holds no space: one join, one split.
    ``short``: no replaced letter (see :data:`SHORT_MIN_LEN`)."""
    key = "\x00" + word if short else word
    if memo is not None and key in memo:
        return memo[key]
    variants = typo_variants(word, replace=not short)
    out = frozenset(map(zlib.crc32, " ".join(variants).encode().split(b" "))) if variants \
        else frozenset()
    if memo is not None:
        memo[key] = out
    return out


def _name_variant_crcs(word: str, memo: VariantMemo | None) -> frozenset[int] | None:
    """The typo variants a name may be fixed from, or None: too short to tell."""
    if len(word) >= TYPO_MIN_LEN:
        return _variant_crcs(word, memo)
    if len(word) >= SHORT_MIN_LEN:
        return _variant_crcs(word, memo, short=True)
    return None


def _hits(variant_crcs: frozenset[int], wanted: dict[int, set[int]]) -> set[int]:
    hits: set[int] = set()
    for crc in variant_crcs.intersection(wanted):
        hits |= wanted[crc]
    return hits


def typo_hits(word: str, kmax: int, facts: set[int], memo: VariantMemo | None = None
              ) -> set[int]:
    """The members of ``facts`` that are ``fact_hash(v, k)`` of a one-edit variant
    ``v`` of ``word`` and some k in 1..kmax."""
    return _hits(_variant_crcs(word, memo), token_crcs(facts, kmax))


def facts_match(new: Features, old: StateEntry, memo: VariantMemo | None = None) -> bool:
    """Same numbers exactly, same names up to one-edit typo fixes (see :func:`typo_fixes`)."""
    return typo_fixes(new, old, memo) is not None


def typo_fixes(new: Features, old: StateEntry, memo: VariantMemo | None = None) -> int | None:
    """How many name occurrences differ by a one-edit typo fix, or None when the facts
    differ otherwise (a number, a name that is no typo variant, a name added).

    Names are every capitalised word not starting a sentence, so in German every
    noun: a typo fix in a noun that occurs k times changes k facts at once (the
    misspelt form's occurrences 1..k become the right form's). Each word of the
    new story is therefore matched with all its changed occurrences together.

    ``memo`` keeps the variants of the new story's names across the candidates
    of one decision: a boilerplate report (fixings, market closes) finds many
    held near-copies that differ in a figure.
    """
    old_set = set(old.facts.tolist())
    new_set = set(new.facts.tolist())
    extra_new = new_set - old_set
    extra_old = old_set - new_set
    if not extra_new and not extra_old:
        return 0
    if len(extra_new) > len(extra_old) or len(extra_old) > len(extra_new) + 2:
        return None
    entities = new.entity_words
    changed: dict[str, list[int]] = {}  # word -> its occurrence numbers not held
    for h in extra_new:  # a changed number fails before any variant is hashed
        entity = entities.get(h)
        if entity is None or len(entity[0]) < SHORT_MIN_LEN:
            return None  # a number, or too short for "typo" to be safe
        changed.setdefault(entity[0], []).append(entity[1])
    for word, ks in changed.items():
        variants = _name_variant_crcs(word, memo)
        if variants is None:
            return None
        # the misspelt form has occurrence numbers of its own, up to the word's count
        hit = _hits(variants, token_crcs(extra_old, min(max(ks), TYPO_KMAX)))
        if len(hit) < len(ks):
            return None
        extra_old -= hit
    fixes = len(extra_new)
    if extra_old:
        # a misspelt name fixed into one already present elsewhere in the story
        fixes += len(extra_old)
        wanted = token_crcs(extra_old, 3)
        for word, _ in set(entities.values()):
            variants = _name_variant_crcs(word, memo)
            if variants is not None:
                extra_old -= _hits(variants, wanted)
                if not extra_old:
                    break
    return None if extra_old else fixes


def edits_explain(j: float, n_old: int, n_new: int, fixes: int) -> bool:
    """Whether ``fixes`` name typo fixes plus :data:`FREE_EDITS` other word edits can
    account for the shingles that differ (estimated from J) on either side: each
    word edit changes at most SHINGLE of them."""
    inter = j / (1.0 + j) * (n_old + n_new)
    return max(n_old, n_new) - inter <= SHINGLE * (FREE_EDITS + fixes) + EDIT_SLACK


def _similarity(matches: int, n_old: int, n_new: int) -> tuple[float, float, float]:
    """(J, containment of the held text in the new one, of the new in the held) from the
    number of equal signature positions and the two shingle counts."""
    j = from_matches(matches / NUM_PERM)
    inter = j / (1.0 + j) * (n_old + n_new)
    return j, min(1.0, inter / max(1, n_old)), min(1.0, inter / max(1, n_new))


def _superseded(index: Index, entry: StateEntry) -> str:
    return index.latest_event(entry.story_id) or entry.event_id


def decide(story: Story, feats: Features, event_time_ms: int, index: Index) -> Decision:
    """Classify ``story`` against the held window. Does not mutate ``index``."""
    cutoff = index.cutoff_ms(event_time_ms)
    repeat, correction, update = story_flags(story)

    exact = index.get(feats.fingerprint)
    if exact is not None and exact.event_time_ms >= cutoff:
        return Decision(
            "duplicate", "repeat" if repeat else "exact", 1.0, exact, basis="fingerprint"
        )

    if story.agency_id is not None and story.version is not None:
        held = [e for e in index.by_agency_id(story.agency_id) if e.event_time_ms >= cutoff]
        if held:
            latest = max(held, key=lambda e: (-1 if e.version is None else e.version, e.event_id))
            if story.version > (-1 if latest.version is None else latest.version):
                return Decision(
                    "corrected" if correction else "updated",
                    similarity=round(jaccard(feats.signature, latest.signature), 4),
                    matched=latest,
                    supersedes=_superseded(index, latest),
                    basis="agency_version",
                )

    slots, matches = index.scan(feats.signature, min_time_ms=cutoff)
    if not slots.size:
        return Decision("created")
    if not (repeat or correction or update):
        # Unflagged, only two rules can fire: near (J >= LINK_J at least) and extension
        # (C old in new >= EXTEND_C). When no candidate reaches either, the outcome is
        # "created" with the best J, whatever the order: skip event ids and sorting.
        best = 0.0
        for m, n_old in zip(matches.tolist(), index.shingle_counts(slots), strict=True):
            j, c_old, _ = _similarity(m, n_old, feats.shingle_count)
            if j >= LINK_J or c_old >= EXTEND_C:
                break
            best = max(best, j)
        else:
            return Decision("created", similarity=round(best, 4), basis="no_match")
    counts, event_ids = index.describe(slots)
    # (J, C old in new, C new in old, event id, shingle count, slot): entries are built
    # only for the candidates a rule looks at (their facts) or returns
    scored: list[tuple[float, float, float, str, int, int]] = []
    rows = zip(slots.tolist(), matches.tolist(), counts, event_ids, strict=True)
    for slot, m, n_old, eid in rows:
        scored.append((*_similarity(m, n_old, feats.shingle_count), eid, n_old, slot))
    # highest similarity first; ties by event id so that restore order cannot matter
    scored.sort(key=lambda s: (-s[0], s[3]))
    built: dict[int, StateEntry] = {}

    def take(slot: int) -> StateEntry:
        e = built.get(slot)
        if e is None:
            e = built[slot] = index.entry(slot)
        return e

    if repeat and scored[0][0] >= REPEAT_J:
        j, *_, slot = scored[0]
        return Decision("duplicate", "repeat", round(j, 4), take(slot), basis="repeat_flag")

    by_containment = sorted(scored, key=lambda s: (-s[1], -s[0], s[3]))
    if update:
        j, c_old, _, _, n_old, slot = by_containment[0]
        if c_old >= LINK_C and feats.shingle_count > UPDATE_GROWTH * n_old:
            e = take(slot)
            return Decision(
                "updated", None, round(j, 4), e, _superseded(index, e), basis="update_flag"
            )

    memo: VariantMemo = {}
    for j, _, _, _, n_old, slot in scored:
        if j < LINK_J:
            break
        if j < NEAR_J and not edits_explain(j, n_old, feats.shingle_count, len(feats.facts)):
            continue  # more differs than typo fixes in every name could explain
        e = take(slot)
        fixes = typo_fixes(feats, e, memo)
        if fixes is not None and (
            j >= NEAR_J or edits_explain(j, n_old, feats.shingle_count, fixes)
        ):
            if correction:
                return Decision(
                    "corrected", None, round(j, 4), e, _superseded(index, e), basis="near_flagged"
                )
            return Decision("duplicate", "near", round(j, 4), e, basis="near")

    if correction:
        for j, c_old, c_new, *_, slot in scored:
            if j >= LINK_J or c_old >= LINK_C or c_new >= LINK_C:
                e = take(slot)
                return Decision(
                    "corrected", None, round(j, 4), e, _superseded(index, e), basis="correction"
                )

    if update:
        j, c_old, *_, slot = by_containment[0]
        if c_old >= LINK_C:
            e = take(slot)
            return Decision(
                "updated", None, round(j, 4), e, _superseded(index, e), basis="update_flag"
            )
    for j, c_old, _, _, n_old, slot in by_containment:
        if c_old < EXTEND_C:
            break
        grows = feats.shingle_count >= EXTEND_GROWTH * n_old
        if grows:
            e = take(slot)
            if not (set(e.facts.tolist()) - set(feats.facts.tolist())):
                return Decision(
                    "updated", None, round(j, 4), e, _superseded(index, e), basis="extension"
                )
    return Decision("created", similarity=round(scored[0][0], 4), basis="no_match")
