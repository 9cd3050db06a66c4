from pathlib import Path

import pytest

from schemas.json_schema import PUBLISHED, render

JSON_DIR = Path(__file__).resolve().parents[3] / "schemas" / "json"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_checked_in_json_schema_matches_the_model(name):
    assert (JSON_DIR / name).read_bytes() == render(PUBLISHED[name]), "run `make schema` and commit the result"
