import pytest

from streams.stages.pseudonymize import PseudonymKey, pseudonymize

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
    from streams.keys import load_pseudonym_key

    kept = load_pseudonym_key(PrivacySettings(pseudonymize_users=False, pseudonym_key="k"))  # type: ignore[arg-type]
    assert pseudonymize("CORP\\Ana ", kept) == "corp\\ana" and kept.recorded_id == "raw" and kept.secret == b"k"
    hidden = load_pseudonym_key(PrivacySettings(pseudonym_key="k"))  # type: ignore[arg-type]
    assert pseudonymize("CORP\\Ana", hidden) != "corp\\ana"
