"""What changed between two versions of a story: the ``changes`` object of an event. Pure.

A new version (``story.updated`` / ``story.corrected``) and a near duplicate
are compared with the version they supersede or duplicate. The held window
keeps, per version, a *snapshot* (:func:`snapshot`): its headline and body
blocks, compressed, stored in the changelog entry (``StateEntry.text``), so a
replica that restored its window from the changelog computes the same
``changes`` for the same record as the replica that wrote the entry.

How the comparison works, and why:

* **paragraphs**: ``difflib.SequenceMatcher`` over the two block lists (a
  block equal when its text is equal up to whitespace). ``insert`` runs are
  added blocks, ``delete`` runs removed ones, ``replace`` runs of equal length
  are changed blocks paired one to one; a replace run of other lengths (a
  paragraph split or merged, one rewritten into two) pairs blocks in order and
  lists the rest as added or removed. Positions are 0-based block indexes
  (``at`` in the new version for added and changed blocks, in the old one for
  removed blocks).
* **figures** and **material**: a word-level alignment of the blocks that
  differ (the common head and tail cut first: a correction costs its
  paragraph, not the story twice), where a figure (number with its sign,
  currency, scale and unit words; a date in German or English notation) is
  one token, so ``4,5 Milliarden`` against ``4,2 Milliarden`` is one replaced
  token, reported in the story's own notation with the block it is in.
  Pairing inside the alignment's replaced runs is what "by position and
  context" means: a figure pairs with the one that took its place between the
  same unchanged words, not with whichever other number is nearest in value.
  Figures of whole added or removed blocks are not listed (the blocks are).
* **names**: capitalised words and runs of them (``Deutsche Bank``) in the
  blocks that differ, not at a sentence start, that the other version does not
  mention anywhere. German capitalises every noun: a word is not a name when
  either text puts an article, determiner or numeral before it (in German text
  also an inflected adjective), or it ends in a noun suffix (-ung, -heit...).
  A heuristic, documented as such: no name list or tagger is loaded.
* **material** is false when the words differ only by typo fixes (one
  insertion, deletion, substitution or transposition in a word of at least
  four letters, or a change of case) and the figures are equal: whitespace,
  punctuation and line breaks are not words, and the signature and date line
  are not part of the snapshot (a dpa signature glued to the last block is cut).

Size: each text in ``paragraphs`` is cut at :data:`MAX_TEXT` characters (its
end replaced by ``…``) and each list at :data:`MAX_ITEMS` entries; ``cut``
says whether anything was cut and ``omitted`` how many entries were left
out. Figures and names are capped at :data:`MAX_ITEMS` too (``figures_cut``,
``names.cut``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any, Literal, NamedTuple

import orjson

from consumer.model import Story

MAX_TEXT = 1000
MAX_ITEMS = 25
# a snapshot larger than this (raw UTF-8) is not kept: a story that claims a huge body
# cannot grow every held entry by as much (the diff then says the text was not kept)
MAX_SNAPSHOT_BYTES = 64 * 1024
_LEVEL = 6  # zlib level: ~2.3x on wire text; 9 gains 1 % for twice the time

# -- snapshot ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a diff needs of a version: its headline and body block texts."""

    headline: str | None
    blocks: tuple[str, ...]


# an agency signature at the end of the last block (dpa's "/mau/DP/he"), when the parser
# left it glued to the last word: not text, and a change of it is not material
_SIGNATURE_TAIL = re.compile(r"\s*/[A-Za-z]{2,5}(?:/[A-Za-z]{1,5}){1,3}\s*$")


def snapshot_of(story: Story) -> Snapshot:
    blocks = [b.text for b in story.body]
    if blocks:
        blocks[-1] = _SIGNATURE_TAIL.sub("", blocks[-1])
    return Snapshot(story.headline, tuple(blocks))


def snapshot(story: Story) -> bytes:
    """The compressed snapshot kept in the changelog entry (b"" when too large).

    Raw deflate (no zlib header or checksum: the entry's transport has its own)
    of ``[headline, [block, ...]]`` as JSON.
    """
    snap = snapshot_of(story)
    raw = orjson.dumps([snap.headline, list(snap.blocks)])
    if len(raw) > MAX_SNAPSHOT_BYTES:
        return b""
    c = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush()


def read_snapshot(blob: bytes) -> Snapshot | None:
    """The snapshot in ``blob``, or None when none was kept or it cannot be read."""
    if not blob:
        return None
    try:
        d = zlib.decompressobj(-15)
        raw = d.decompress(blob, MAX_SNAPSHOT_BYTES + 1)
        if len(raw) > MAX_SNAPSHOT_BYTES or not d.eof:
            return None
        headline, blocks = orjson.loads(raw)
    except (zlib.error, orjson.JSONDecodeError, TypeError, ValueError):
        return None
    if not (headline is None or isinstance(headline, str)) or not isinstance(blocks, list):
        return None
    if not all(isinstance(b, str) for b in blocks):
        return None
    return Snapshot(headline, tuple(blocks))


def unavailable(reason: str) -> dict[str, Any]:
    """``changes`` when there is nothing to compare with, and why."""
    return {"available": False, "reason": reason}


# -- tokens -------------------------------------------------------------------------

_MON_DE = (r"Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|"
           r"November|Dezember|Jan|Feb|Mär|Apr|Jun|Jul|Aug|Sept?|Okt|Nov|Dez")
_MON_EN = (r"January|February|March|April|May|June|July|August|September|October|"
           r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec")
_DATE_NUM = (  # dates that start with a digit
    rf"\d{{1,2}}\.\s?(?:{_MON_DE})\.?(?:\s\d{{4}})?(?!\w)"  # 15. März 2016
    rf"|\d{{1,2}}\s(?:{_MON_EN})\.?(?:\s\d{{4}})?(?!\w)"  # 15 March 1987
    r"|\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2})?(?!\d)"  # 15.03.2016, 15.03.
    r"|\d{4}-\d{2}-\d{2}"
)
_DATE_MON = rf"(?:{_MON_EN})\.?\s\d{{1,2}}(?:,?\s\d{{4}})?(?!\d)"  # March 15, 1987
_CUR = r"(?:[$€£¥]|EUR|USD|CHF|GBP|JPY|SFr|US-\$)"
_SCALE_UNIT = (
    r"%|Prozentpunkte[n]?|Prozent|Basispunkte[n]?|percentage\spoints?|percent|per\scent|pct"
    r"|Billionen|Billion|Milliarden|Milliarde|Millionen|Million|Mrd\.?|Mio\.?|Tsd\.?"
    r"|trillions?|billions?|millions?|thousands?|bln|mln|mn|bn"
    r"|Euro|Cent|US-Dollar|Dollar|Franken|Pfund|Yen|dlrs|dollars?|cts|cents|marks|francs|yen"
    r"|pounds|stg|Tonnen|tonnes|tons|Barrel|barrels|bpd|Aktien|shares|Stück|Jahre[n]?|years?"
)
_NUMBER = (
    rf"(?:{_CUR}\s?)?(?:(?<!\w)[-+−])?\d(?:[\d.,]*\d)?(?:\s?(?:{_SCALE_UNIT})(?!\w))*"
    rf"(?:\s{_CUR}(?!\w))?"
)
# the lookaheads keep the ~80 alternatives from being tried at every word: a figure
# starts with a digit, a sign or a currency; a month-first date with a capital letter
_TOKEN = re.compile(
    rf"(?P<fig>(?=[\d$€£¥+−-]|[EUCGJS][A-Za-z]{{1,2}}-?\$?\s?\d)(?:{_DATE_NUM}|{_NUMBER})"
    rf"|(?=[ADFJMNOS][a-z]{{2,8}}\.?\s\d)(?:{_DATE_MON}))|(?P<word>\w+)"
)
_STOPS = (".", "!", "?", ":")
_WORDS = re.compile(r"\w+")


class _Tok(NamedTuple):
    text: str
    figure: bool
    block: int
    start: bool  # first token of a sentence (a capitalised word there is no sign of a name)


def _tokens(blocks: Sequence[str], first_block: int = 0) -> list[_Tok]:
    """Figures and words of ``blocks``; a figure's inner whitespace made one space (a
    line break inside ``4,5 Milliarden`` is no change)."""
    out: list[_Tok] = []
    append = out.append
    for bi, text in enumerate(blocks, first_block):
        last = 0
        first = True
        for m in _TOKEN.finditer(text):
            s = m.start()
            start = first or text[last:s].rstrip().endswith(_STOPS)
            if m.lastgroup == "fig":
                append(_Tok(" ".join(m.group().split()), True, bi, start))
            else:
                append(_Tok(m.group(), False, bi, start))
            last, first = m.end(), False
    return out


# -- typo fixes ---------------------------------------------------------------------


def _one_edit(a: str, b: str) -> bool:
    """a and b differ by one insertion, deletion, substitution or adjacent transposition."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1 :] == b[i + 1 :]:
            return True  # substitution
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    if la > lb:
        return a[i + 1 :] == b[i:]
    return b[i + 1 :] == a[i:]


def is_typo_fix(a: str, b: str) -> bool:
    """A word fixed for a typo (or case), not replaced: digits never count."""
    if a.casefold() == b.casefold():
        return True
    if any(c.isdigit() for c in a + b) or min(len(a), len(b)) < 4:
        return False
    return _one_edit(a.casefold(), b.casefold())


# -- names --------------------------------------------------------------------------

_ARTICLES = frozenset((
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "eines",
    "kein", "keine", "keinen", "keinem", "keiner", "im", "am", "zum", "zur", "vom", "beim",
    "ins", "ans", "diese", "dieser", "diesem", "diesen", "dieses", "jede", "jeder", "jedem",
    "jeden", "jedes", "sein", "seine", "seinem", "seinen", "seiner", "ihr", "ihre", "ihrem",
    "ihren", "ihrer", "unser", "unsere", "mehr", "viele", "einige", "alle", "beiden", "neue",
    "neuen", "neuer", "neues", "seines", "ihres", "unseres", "dessen", "deren", "welche",
    "welcher", "welchen", "solche", "manche", "mehrere", "mehreren", "wenige", "wenigen",
    "vielen", "allen", "andere", "anderen", "beide", "zwei", "drei", "vier", "fünf", "sechs",
    "sieben", "acht", "neun", "zehn", "zwölf", "hundert", "tausend",
))
# a few German function words: a text with several of them is German, where every noun is
# capitalised and an inflected adjective before a capitalised word marks it as a noun
_GERMAN = frozenset(("der", "die", "das", "und", "nicht", "ist", "mit", "sich", "auch", "dem"))
_INFLECTED = ("en", "em", "er", "es")
_CAP_RUN = re.compile(r"[A-ZÄÖÜ][\w'’&-]*(?:\s+[A-ZÄÖÜ][\w'’&-]*)*")
_NOUN_SUFFIX = re.compile(
    r"(?:ung|ungen|heit|heiten|keit|keiten|schaft|schaften|tion|tionen|tät|täten|ismus|nis|"
    r"nisse|tum|ment|ments|ling|linge|chen|lein)$"
)
_NOT_NAMES = frozenset((
    "The", "A", "An", "In", "On", "At", "For", "And", "But", "Of", "To", "By", "With", "From",
    "As", "It", "He", "She", "They", "We", "I", "This", "That", "These", "Those", "There",
    "Its", "His", "Her", "Their", "Our", "Mr", "Mrs", "Ms", "Dr", "Prof", "Der", "Die", "Das",
    "Ein", "Eine", "Im", "Am", "Es", "Er", "Sie", "Wir", "Ich", "Und", "Aber", "Auch", "Nach",
    "Bei", "Mit", "Von", "Für", "Zu",
))


def _name_candidates(blocks: Sequence[str]) -> set[str]:
    """Capitalised words and runs of them, less sentence starts and function words."""
    out: set[str] = set()
    for text in blocks:
        for m in _CAP_RUN.finditer(text):
            i = m.start() - 1
            while i >= 0 and text[i].isspace():
                i -= 1
            words = m.group().split()
            if i < 0 or text[i] in _STOPS:
                words = words[1:]  # a sentence start says nothing
            run: list[str] = []
            for w in [*words, ""]:
                if w and w not in _NOT_NAMES and not (
                    w[1:].islower() and _NOUN_SUFFIX.search(w) is not None
                ):
                    run.append(w)
                    continue
                if run:
                    out.add(" ".join(run))
                run = []
    return out


def _german_nouns(text: str, firsts: set[str]) -> set[str]:
    """The words of ``firsts`` that ``text`` puts an article or determiner before (maybe
    with an inflected adjective between: "der neue Chef"): German nouns, not names."""
    words = _WORDS.findall(text)
    german = sum(w in _GERMAN for w in words[:200]) >= 8
    out: set[str] = set()
    for k, w in enumerate(words):
        if w not in firsts or not k:
            continue
        prev = words[k - 1]
        if (
            prev.casefold() in _ARTICLES
            or prev.isdigit()  # "14 Staaten"
            or (german and prev.islower() and len(prev) > 3 and prev.endswith(_INFLECTED))
            or (k > 1 and prev.islower() and words[k - 2].casefold() in _ARTICLES)
        ):
            out.add(w)
    return out


# -- the diff -------------------------------------------------------------------------


def _cut(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_TEXT:
        return text, False
    return text[: MAX_TEXT - 1] + "…", True


class _Budget:
    """Counts entries against :data:`MAX_ITEMS` a list, and whether anything was cut."""

    def __init__(self) -> None:
        self.cut = False
        self.omitted = 0

    def text(self, text: str) -> str:
        out, cut = _cut(text)
        self.cut |= cut
        return out

    def room(self, items: list[Any]) -> bool:
        if len(items) < MAX_ITEMS:
            return True
        self.cut = True
        self.omitted += 1
        return False


Opcodes = list[tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]]


def _paragraphs(old: Sequence[str], new: Sequence[str]) -> tuple[dict[str, Any], Opcodes]:
    added: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    budget = _Budget()

    def add(j: int) -> None:
        if budget.room(added):
            added.append({"at": j, "text": budget.text(new[j])})

    def remove(i: int) -> None:
        if budget.room(removed):
            removed.append({"at": i, "text": budget.text(old[i])})

    # whitespace is no change: a re-wrapped block is the same block
    sm = SequenceMatcher(None, [" ".join(t.split()) for t in old],
                         [" ".join(t.split()) for t in new], autojunk=False)
    ops = sm.get_opcodes()
    for op, i1, i2, j1, j2 in ops:
        if op == "insert":
            for j in range(j1, j2):
                add(j)
        elif op == "delete":
            for i in range(i1, i2):
                remove(i)
        elif op == "replace":
            k = min(i2 - i1, j2 - j1)
            for d in range(k):
                if budget.room(changed):
                    changed.append({"at": j1 + d, "old_at": i1 + d,
                                    "old": budget.text(old[i1 + d]),
                                    "new": budget.text(new[j1 + d])})
            for i in range(i1 + k, i2):
                remove(i)
            for j in range(j1 + k, j2):
                add(j)
    out: dict[str, Any] = {"added": added, "removed": removed, "changed": changed,
                           "cut": budget.cut}
    if budget.omitted:
        out["omitted"] = budget.omitted
    return out, ops


def _word_diff(a: list[_Tok], b: list[_Tok]) -> tuple[list[dict[str, Any]], bool, bool]:
    """(figures that changed, whether any word changed beyond typo fixes, cut)."""
    figures: list[dict[str, Any]] = []
    material = False
    cut = False
    ta, tb = [t.text for t in a], [t.text for t in b]
    # the common head and tail first: a correction changes one spot, an update appends,
    # and SequenceMatcher is quadratic in the worst case over what is left
    p = 0
    while p < len(ta) and p < len(tb) and ta[p] == tb[p]:
        p += 1
    q = 0
    while q < len(ta) - p and q < len(tb) - p and ta[-1 - q] == tb[-1 - q]:
        q += 1
    sm = SequenceMatcher(None, ta[p : len(ta) - q], tb[p : len(tb) - q], autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        i1, i2, j1, j2 = i1 + p, i2 + p, j1 + p, j2 + p
        olds, news = a[i1:i2], b[j1:j2]
        flat_old = [w for t in olds for w in t.text.split()]
        flat_new = [w for t in news for w in t.text.split()]
        if len(flat_old) == len(flat_new) and all(
            is_typo_fix(x, y) for x, y in zip(flat_old, flat_new, strict=True)
        ):
            continue  # a typo fixed in a figure's unit ("4,5 Milliarden" read "4,5 Milliadren")
        ofig = [t for t in olds if t.figure]
        nfig = [t for t in news if t.figure]
        owords = [t for t in olds if not t.figure]
        nwords = [t for t in news if not t.figure]
        if ofig or nfig:
            material = True
        if len(owords) != len(nwords) or not all(
            is_typo_fix(x.text, y.text) for x, y in zip(owords, nwords, strict=True)
        ):
            material = True
        if op != "replace":
            continue  # figures of added or removed text: see the paragraphs
        for d in range(max(len(ofig), len(nfig))):
            o = ofig[d] if d < len(ofig) else None
            n = nfig[d] if d < len(nfig) else None
            if o is not None and n is not None and o.text == n.text:
                continue
            if len(figures) >= MAX_ITEMS:
                cut = True
                continue
            figures.append({
                "old": None if o is None else o.text,
                "new": None if n is None else n.text,
                "at": n.block if n is not None else None,
                "old_at": o.block if o is not None else None,
            })
    return figures, material, cut


def _name_changes(old: Sequence[str], new: Sequence[str], cand_old: set[str],
                  cand_new: set[str]) -> tuple[list[str], list[str]]:
    """Candidates of the changed passages that the other version does not mention anywhere,
    less German nouns (an article before them anywhere in either version)."""
    if not cand_old and not cand_new:
        return [], []
    old_text, new_text = "\n".join(old), "\n".join(new)
    firsts = {n.split()[0] for n in cand_old ^ cand_new}
    nouns = _german_nouns(old_text, firsts) | _german_nouns(new_text, firsts)

    def mentions(text: str, words: set[str], name: str) -> bool:
        return name in words or (" " in name and name in text)

    old_words = set(_WORDS.findall(old_text))
    new_words = set(_WORDS.findall(new_text))
    added = sorted(n for n in cand_new - cand_old
                   if not mentions(old_text, old_words, n) and n.split()[0] not in nouns)
    removed = sorted(n for n in cand_old - cand_new
                     if not mentions(new_text, new_words, n) and n.split()[0] not in nouns)
    return added, removed


def compare(old: Snapshot, new: Snapshot) -> dict[str, Any]:
    """The ``changes`` object of ``new`` against ``old`` (see the module docstring)."""
    out: dict[str, Any] = {"available": True}
    headline_material = False
    if (old.headline or "") != (new.headline or ""):
        out["headline"] = {"old": old.headline, "new": new.headline}
        ho = [t.text for t in _tokens([old.headline or ""])]
        hn = [t.text for t in _tokens([new.headline or ""])]
        headline_material = len(ho) != len(hn) or not all(
            is_typo_fix(x, y) for x, y in zip(ho, hn, strict=True)
        )
    out["paragraphs"], ops = _paragraphs(old.blocks, new.blocks)
    # words and figures only where blocks differ: an update's cost is its new paragraphs,
    # a correction's the paragraph it fixed, not the whole story twice
    figures: list[dict[str, Any]] = []
    body_material = figures_cut = False
    cand_old: set[str] = set()
    cand_new: set[str] = set()
    for op, i1, i2, j1, j2 in ops:
        if op == "equal":
            continue
        if op != "replace":  # whole blocks added or removed: material if they hold a word
            blocks = old.blocks[i1:i2] if op == "delete" else new.blocks[j1:j2]
            body_material |= any(_WORDS.search(t) for t in blocks)
            cand_old |= _name_candidates(old.blocks[i1:i2])
            cand_new |= _name_candidates(new.blocks[j1:j2])
            continue
        a = _tokens(old.blocks[i1:i2], i1)
        b = _tokens(new.blocks[j1:j2], j1)
        figs, material, cut = _word_diff(a, b)
        figures.extend(figs)
        body_material |= material
        figures_cut |= cut
        cand_old |= _name_candidates(old.blocks[i1:i2])
        cand_new |= _name_candidates(new.blocks[j1:j2])
    if len(figures) > MAX_ITEMS:
        figures, figures_cut = figures[:MAX_ITEMS], True
    out["figures"] = figures
    if figures_cut:
        out["figures_cut"] = True
    added, removed = _name_changes(old.blocks, new.blocks, cand_old, cand_new)
    names: dict[str, Any] = {"added": added[:MAX_ITEMS], "removed": removed[:MAX_ITEMS]}
    if len(added) > MAX_ITEMS or len(removed) > MAX_ITEMS:
        names["cut"] = True
    out["names"] = names
    out["material"] = headline_material or body_material
    return out


def changes_between(old_blob: bytes, story: Story) -> dict[str, Any]:
    """``changes`` of ``story`` against the version whose snapshot is ``old_blob``."""
    old = read_snapshot(old_blob)
    if old is None:
        return unavailable("previous_text_not_kept")
    return compare(old, snapshot_of(story))
