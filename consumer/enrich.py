"""Derived story fields, computed identically for every format.

A parser states what its format says (a :class:`~consumer.formats.base.Draft`);
:func:`finish` normalises the text fields and derives the rest: lede,
language, ISINs, quotes, word count and ``normalized_text``.

``normalized_text`` is the dedup contract. It contains exactly the body
blocks (paragraphs and subheadings, in order; the dateline is already cut off
the lede by the parsers), each NFC-normalised, casefolded and
whitespace-collapsed, joined by a single space. It never contains the
headline, the ``date`` header, the dateline, the editor signature or any
transport header, so that a re-send with a new signature, a new headline
prefix (``WDH/``) or different framing fingerprints identically.
``word_count`` is the number of whitespace-separated tokens in it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from stdnum import isin as stdnum_isin

from consumer.errors import ParseError, Reason
from consumer.formats import conventions
from consumer.formats.base import Draft
from consumer.formats.fields import language_tag
from consumer.jit import jit
from consumer.model import Block, Story
from consumer.text import casefold, clean_line

# Languages the detector may answer. Wire feeds we ingest are European; a
# closed set stops short ledes being labelled e.g. "lb" or "la". Measured on
# the corpora (bench/bench_parse.py --langid): see the module README/report.
LANGUAGES: Final = (
    "de", "en", "fr", "es", "it", "nl", "pt", "da", "sv", "no", "fi",
    "pl", "cs", "sk", "hu", "ro", "el", "tr", "ru", "uk", "ar", "zh", "ja",
)  # fmt: skip
# Characters of body text handed to the detector. Its cost is linear in the
# length (a per-byte Python loop inside py3langid); measured with the
# restricted set on 533 German / 492 English corpus texts: 80 chars de 100 %
# en 97.8 %, 120 chars de 100 % en 97.6 %, 240 chars de 100 % en 98.8 %
# (bench/bench_parse.py --langid); 100 is the throughput/accuracy trade-off;
# the full 97-language model gets en 87-90 % at the same lengths.
LANGID_PREFIX: Final = 100

# The candidate pattern is \b[A-Z]{2}[A-Z0-9]{9}\d\b; the leading \b
# makes the scan 3x slower, so the boundaries are checked on the few hits.
_ISIN_CANDIDATE: Final = re.compile(r"[A-Z][A-Z][A-Z0-9]{9}\d")
# An ISIN is a run of 12 [A-Z0-9] characters. Mapping every byte of the UTF-8
# text to "X" (one of those) or " " and searching "X" * 12 is three C passes;
# only text with such a run (a minority even of financial news) pays for the
# regex scan, which costs 8 ns a character.
_ISIN_CLASS: Final = bytes(
    0x58 if chr(b).isascii() and (chr(b).isdigit() or chr(b).isupper()) else 0x20
    for b in range(256)
)
_ISIN_RUN: Final = b"X" * 12
_QUOTES: Final = re.compile(
    r"„([^„“”\"\n]{1,600})[“”\"]"
    r"|“([^“”\"\n]{1,600})”"
    r"|»([^»«\n]{1,600})«"
    r"|«[ ]?([^»«\n]{1,600}?)[ ]?»"
    r"|``([^`'\n]{1,600})''"
    r"|\"([^\"\n]{1,600})\""
)
# One character of each alternative's opening mark: single-character searches
# are memchr-fast, a two-character one ("``") scans ten times slower.
_QUOTE_OPENERS: Final = ("„", "“", "»", "«", "`", '"')
_MIN_QUOTE_WORDS: Final = 2
_NON_LETTERS: Final = re.compile(r"[\W\d_]+")
_ASCII_NON_LETTERS: Final = bytes(b for b in range(128) if not chr(b).isalpha())
_MIN_LETTERS: Final = 12
_WORD_INITIAL: Final = re.compile(r"(?<!\S)[^\W\d_]")
#: Below this share (per cent) of lower-case words a text is list-like and gets no language.
MIN_LOWER_WORDS_PCT: Final = 15
#: Posterior probability under which the detector's answer is a guess, not a label.
MIN_CONFIDENCE: Final = 0.8


# A handful of distinct values in practice (the detector's closed set, a feed's own tag)
_language_tag: Final = lru_cache(maxsize=256)(language_tag)


@lru_cache(maxsize=1)
def language_identifier() -> Any:
    """The py3langid model restricted to :data:`LANGUAGES`, loaded once per process."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(LANGUAGES))
    return identifier


class _Classifier:
    """py3langid's ``classify`` label, computed the same way with less overhead.

    Same model, same byte DFA walk, same feature counts in the same order,
    same naive-Bayes sum; what differs is the cost: the walk and the counting are
    one compiled loop (:func:`_walk`), and the scoring table is kept as float32
    so the matrix product does not cast 100 float16 rows on every call (float16
    to float32 is exact, so the sums are those of py3langid, which casts the
    same way).

    Inside the parse loop it costs half as much again as when timed alone,
    and 3-4x as much after the caches were flushed: each of the ~105 bytes
    reads a random cache line of a 39 MB transition table plus two 0.4 MB
    state tables, and the rest of the parse evicts them from L2 between calls.
    """

    def __init__(self, identifier: Any) -> None:
        self._identifier = identifier
        # A numpy copy of the 39 MB transition table: numpy asks for transparent
        # huge pages on large arrays, and the walk reads a few cache lines
        # scattered over all of it (TLB misses). The identifier reads the copy
        # too, so the original can be freed.
        self._nextmove = np.array(identifier.tk_nextmove)  # same item type
        identifier.tk_nextmove = memoryview(self._nextmove.data)
        # int arrays, not lists of int objects: 0.8 MB of contiguous memory
        # instead of 7 MB of scattered objects, so fewer cache misses per byte
        self._rowbase = np.array(identifier._rowbase, dtype=np.int32)
        self._output = np.array(identifier.tk_output, dtype=np.int32)
        # where each feature was first seen in the current walk (-1: not yet); the walk
        # puts every entry it sets back to -1
        self._first = np.full(int(self._output.max()) + 1, -1, dtype=np.int64)
        self._table = np.ascontiguousarray(identifier.nb_ptc, dtype=np.float32)
        self._prior = identifier.nb_pc
        self._classes: Sequence[str] = identifier.nb_classes
        # duplicated labels, norm_probs or min_confidence change the decision
        # rule: leave those models to py3langid itself
        self._exact = (
            not identifier._alias_pairs
            and not identifier._norm_probs
            and identifier.min_confidence is None
        )

    def classify(self, text: str) -> str:
        return self.rank(text)[0]

    def rank(self, text: str) -> tuple[str, float]:
        """The label and its posterior probability among the closed set (1.0: certain)."""
        if not self._exact:
            label, prob = self._identifier.classify(text)
            return str(label), float(prob)  # a probability when the model normalises
        data = np.frombuffer(self._identifier._encode(text), dtype=np.uint8)
        idx, counts = _walk(data, self._nextmove, self._rowbase, self._output,
                            self._first)
        if not idx.size:  # py3langid scores every class alike: the first wins
            return self._classes[0], 1.0 / len(self._classes)
        weights = np.log1p(counts.astype(np.float32))
        # take() gathers rows faster than fancy indexing; np.dot is the same
        # sgemv as @ with less dispatch
        scores = np.dot(weights, self._table.take(idx, axis=0)) + self._prior
        best, confidence = _decide(scores)
        return self._classes[best], confidence


@jit
def _walk(data: npt.NDArray[np.uint8], nextmove: npt.NDArray[np.uint32],
          rowbase: npt.NDArray[np.int32], output: npt.NDArray[np.int32],
          first: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The byte automaton's features of ``data`` in first-seen order, and their counts:
    py3langid's walk and ``Counter``, as one compiled loop (the Python walk was about a
    tenth of a record's time in the worker's tight loop)."""
    idx = np.empty(data.size, dtype=np.int64)
    counts = np.empty(data.size, dtype=np.int64)
    n = 0
    state = 0
    for k in range(data.size):
        state = nextmove[rowbase[state] + data[k]]
        f = output[state]
        if f < 0:  # no feature ends in this state
            continue
        at = first[f]
        if at < 0:
            first[f] = n
            idx[n] = f
            counts[n] = 1
            n += 1
        else:
            counts[at] += 1
    for k in range(n):
        first[idx[k]] = -1
    return idx[:n], counts[:n]


@jit
def _decide(scores: npt.NDArray[np.float32]) -> tuple[int, float]:
    """The winning class (argmax, first on ties) and its softmax posterior
    ``1 / sum(exp(s - s_best))``, in one compiled call instead of four numpy ones."""
    best = 0
    for k in range(1, scores.size):
        if scores[k] > scores[best]:
            best = k
    total = 0.0
    for k in range(scores.size):
        total += math.exp(scores[k] - scores[best])
    return best, 1.0 / total


@lru_cache(maxsize=1)
def language_classifier() -> _Classifier:
    return _Classifier(language_identifier())


def list_like(sample: str) -> bool:
    """Names and figures rather than sentences: a sports line-up, a results table.

    Prose, even German prose with its capitalised nouns, has most of its
    words in lower case (function words); in "Chelsea: Cech; Ivanovic,
    Terry, Cahill" or "N.Y. Yankees 7, Chicago White Sox 5" almost none are,
    and the detector's answer on such text is a guess (an English line-up
    came out as Spanish).
    """
    # the words' first letters (one regex scan), counted by C-level map/sum
    initials = "".join(_WORD_INITIAL.findall(sample))
    return sum(map(str.islower, initials)) * 100 < len(initials) * MIN_LOWER_WORDS_PCT


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, from a prefix; None rather than a guess.

    None for too little text, for list-like text (:func:`list_like`) and
    when the detector's own posterior is below :data:`MIN_CONFIDENCE`.
    """
    sample = text[:LANGID_PREFIX]
    # ASCII letters are a lower bound of the letters: usually enough to decide
    ascii_letters = sample.encode("ascii", "ignore").translate(None, _ASCII_NON_LETTERS)
    if len(ascii_letters) < _MIN_LETTERS and len(_NON_LETTERS.sub("", sample)) < _MIN_LETTERS:
        return None
    if list_like(sample):
        return None
    label, confidence = language_classifier().rank(sample)
    return label if confidence >= MIN_CONFIDENCE else None


def find_isins(text: str, encoded: bytes | None = None) -> tuple[str, ...]:
    """Checksum-valid ISINs in order of first appearance.

    ``encoded``: the UTF-8 form of ``text``, or of the same text with other
    whitespace between its lines (the pre-check maps all whitespace alike).
    """
    seen: dict[str, None] = {}
    if encoded is None:
        encoded = text.encode("utf-8", "surrogatepass")
    if _ISIN_RUN not in encoded.translate(_ISIN_CLASS):
        return ()
    for m in _ISIN_CANDIDATE.finditer(text):
        start, end = m.span()
        if (start and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
            continue
        code = m.group(0)
        if code not in seen and stdnum_isin.is_valid(code):
            seen[code] = None
    return tuple(seen)


def find_quotes(text: str) -> tuple[str, ...]:
    """Quoted passages of at least two words, in order, without their quote marks.

    Single-word "quotes" are almost always scare quotes or names of things
    ("Global Compact"), not speech, so they are left out.
    """
    out: list[str] = []
    if not any(q in text for q in _QUOTE_OPENERS):
        return ()
    for m in _QUOTES.finditer(text):
        # each alternative has exactly one group: the one that matched is the last
        quote = m.group(m.lastindex or 0).strip(" ,")
        if quote.count(" ") + 1 >= _MIN_QUOTE_WORDS and quote not in out:
            out.append(quote)
    return tuple(out)


def normalized_text(body: tuple[Block, ...]) -> str:
    """The dedup fingerprint text: see the module docstring for its exact content.

    Block texts are already whitespace-collapsed by :func:`finish`, and
    casefolding never introduces whitespace, so one join and one casefold do.
    """
    return casefold(" ".join(b.text for b in body))


def _count_spaces(data: bytes) -> int:
    """``data.count(b" ")``: on a story body, numpy's vector compare is 2-3x faster."""
    if len(data) < 1024:  # numpy's fixed cost is 1.5 µs
        return data.count(b" ")
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 32))


def _clean_opt(value: str | None) -> str | None:
    if value is None:
        return None
    value = clean_line(value)
    return value or None


def finish(draft: Draft) -> Story:
    """Turn a draft into a story: agency conventions out of the body, shared fields derived."""
    conventions.apply(draft)
    if draft.body_clean:
        body = tuple(b for b in draft.body if b.text)
    else:
        body = tuple(
            block for block in (Block(b.kind, clean_line(b.text)) for b in draft.body) if block.text
        )
    paragraphs = [b.text for b in body if b.kind == "paragraph"]
    if not paragraphs:
        if "canceled" in draft.flags:
            return _kill(draft, body)
        raise ParseError(Reason.MISSING_BODY, "the story has no body text")
    texts = [b.text for b in body]
    joined = "\n".join(texts)
    spaced = " ".join(texts)
    # one UTF-8 form serves the case folding, the ISIN pre-check (which maps
    # "\n" and " " alike) and the word count (folding keeps every space)
    encoded = spaced.encode("utf-8", "surrogatepass")
    norm = casefold(spaced, encoded)  # normalized_text(body), without a second pass
    language = draft.language
    detected = False
    if not language:
        # the detector reads a prefix: a long lede makes the join unnecessary
        lede = paragraphs[0]
        language = detect_language(lede if len(lede) >= LANGID_PREFIX else " ".join(paragraphs[:2]))
        detected = language is not None
    return Story(
        body=body,
        normalized_text=norm,
        roundup_level=draft.roundup_level,
        update_note=_clean_opt(draft.update_note),
        lede=paragraphs[0],
        signature=_clean_opt(draft.signature),
        signature_codes=tuple(draft.signature_codes),
        # BCP 47 in its conventional case (fi-FI), as ninjs and IPTC examples write it
        language=_language_tag(language) if language else None,
        language_detected=detected,
        isins=find_isins(joined, encoded),
        quotes=find_quotes(joined),
        word_count=_count_spaces(encoded) + 1 if norm else 0,
        **_identity(draft),
    )


def _identity(draft: Draft) -> dict[str, Any]:
    """The fields that say which story this is, shared by a story and a kill."""
    return {
        "format": draft.format,
        "agency": _clean_opt(draft.agency),
        "agency_id": _clean_opt(draft.agency_id),
        "version": draft.version,
        "date": draft.date or (draft.datetime.date() if draft.datetime else None),
        "datetime": draft.datetime,
        "located": _clean_opt(draft.located),
        "metadata_located": _clean_opt(draft.metadata_located),
        "date_source": draft.date_source if draft.date or draft.datetime else None,
        "slugline": _clean_opt(draft.slugline),
        "credits": _clean_opt(draft.credits),
        "dateline_agency": _clean_opt(draft.dateline_agency),
        "headline": _clean_opt(draft.headline),
        "flags": tuple(dict.fromkeys(draft.flags)),
        "byline": _clean_opt(draft.byline),
        "urgency": draft.urgency,
        "keywords": tuple(k for k in (clean_line(k) for k in draft.keywords) if k),
        "extra": dict(draft.extra),
    }


def _kill(draft: Draft, body: tuple[Block, ...]) -> Story:
    """A canceled item (an agency kill) without text: it identifies a story, it tells none.

    Newsrooms must act on kills, so such an item is a story (the pipeline turns
    it into ``story.canceled``) rather than a ``missing_body`` dead letter.
    """
    return Story(
        body=body,
        normalized_text="",
        language=_language_tag(draft.language) if draft.language else None,
        **_identity(draft),
    )
