from datetime import date

import pytest

from streams.pipeline.name.fingerprint import build_matcher, load_catalog

AS_OF = date(2026, 11, 29)  # the day the catalog's end-of-life dates are judged on


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def matcher(catalog):
    return build_matcher(catalog, as_of=AS_OF)
