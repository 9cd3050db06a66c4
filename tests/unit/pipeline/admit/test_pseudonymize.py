import pytest

from streams.pipeline.admit.pseudonymize import PseudonymKey, key_check, key_mismatch, pseudonymize

KEY = PseudonymKey("k1", b"secret-one")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("CORP\\Alice", "corp\\alice", id="case folded"),
        pytest.param(" alice@example.com", "alice@example.com ", id="whitespace trimmed"),
    ],
)
def test_one_person_one_pseudonym(a, b):
    assert pseudonymize(a, KEY) == pseudonymize(b, KEY)


def test_pseudonym_hides_the_identity_and_depends_on_the_key():
    value = pseudonymize("alice", KEY)
    assert "alice" not in value
    assert len(value) == 32
    assert value != pseudonymize("alice", PseudonymKey("k2", b"secret-two"))
    assert value != pseudonymize("bob", KEY)


def test_identities_are_kept_only_when_configured():
    from schemas.settings import PrivacySettings
    from streams.runtime.keys import load_pseudonym_key

    kept = load_pseudonym_key(PrivacySettings(pseudonymize_users=False, pseudonym_key="k"))  # type: ignore[arg-type]
    assert pseudonymize("CORP\\Ana ", kept) == "corp\\ana" and kept.recorded_id == "raw" and kept.secret == b"k"
    hidden = load_pseudonym_key(PrivacySettings(pseudonym_key="k"))  # type: ignore[arg-type]
    assert pseudonymize("CORP\\Ana", hidden) != "corp\\ana"


OTHER = PseudonymKey("k1", b"secret-two")


@pytest.mark.parametrize(
    ("key", "recorded", "refused"),
    [
        pytest.param(KEY, None, False, id="first key for its id: recorded"),
        pytest.param(KEY, key_check(KEY), False, id="the warehouse's own key"),
        pytest.param(OTHER, key_check(KEY), True, id="another key under the same id"),
        pytest.param(PseudonymKey("k1", b"x", keep_identities=True), key_check(KEY), False, id="identities kept"),
    ],
)
def test_a_second_key_under_one_key_id_is_refused(key, recorded, refused):
    problem = key_mismatch(key, recorded, "the key file /x/pseudonym.key")
    assert (problem is not None) == refused
    if problem:
        assert "'k1'" in problem and "/x/pseudonym.key" in problem and len(problem.splitlines()) == 2


def test_the_key_check_tells_keys_apart_without_showing_them():
    assert key_check(KEY) != key_check(OTHER)
    assert "secret" not in key_check(KEY)
