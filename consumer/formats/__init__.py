"""Format parsers: one module a format.

Each module exposes:

* ``NAME``: the format's name as it appears in ``Story.format`` and in the
  ``wirefeed-format`` header that forces it;
* ``sniff(head: bytes) -> bool``: cheap test on the first bytes, no full parse;
* ``parse(raw: bytes, hints: Hints) -> Draft``: the full parse, raising
  :class:`consumer.errors.ParseError` with a specific reason on bad input.

Parsers return a :class:`consumer.formats.base.Draft` (what the format itself
says); :func:`consumer.enrich.finish` derives the rest (lede, language,
ISINs, quotes, word count, normalised text) identically for every format.
Detection and dispatch live in :mod:`consumer.parse`.
"""
