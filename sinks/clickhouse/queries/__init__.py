"""The warehouse's queries, one ``.sql`` file each beside this module, read once.

A query that builds on another names it as ``/* include NAME */``, so that the SQL of a measure
lives in one file and the queries over it cannot drift apart.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_INCLUDE = re.compile(r"/\* include (\w+) \*/")


@cache
def load(name: str) -> str:
    """The text of ``NAME.sql``, with every ``/* include OTHER */`` replaced by OTHER's text."""
    text = resources.files(__name__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda found: load(found[1]), text)
