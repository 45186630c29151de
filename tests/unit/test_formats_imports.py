"""The parsers' Draft module and the finisher must not import each other (issue 25)."""

from __future__ import annotations

import subprocess
import sys


def test_base_does_not_import_enrich() -> None:
    code = "import sys, consumer.formats.base; print('consumer.enrich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_enrich_finish_is_what_parse_uses() -> None:
    from consumer import enrich, parse

    assert parse.finish is enrich.finish
