import os

import pytest

from tillpoint.core.errors import InvalidInput, InvariantViolation
from tillpoint.security import tdes
from tillpoint.security.keystore import Keystore, mask_pan, mask_tail


def test_wrap_round_trip_and_binding_to_owner() -> None:
    ks = Keystore(os.urandom(32))
    key = os.urandom(16)
    blob = ks.wrap_key(key, "terminal:A:tmk")
    assert key not in blob
    assert ks.unwrap_key(blob, "terminal:A:tmk") == key
    with pytest.raises(InvariantViolation):  # copied onto another terminal's row
        ks.unwrap_key(blob, "terminal:B:tmk")
    with pytest.raises(InvariantViolation):  # another master key
        Keystore(os.urandom(32)).unwrap_key(blob, "terminal:A:tmk")


def test_keys_and_personal_data_use_separate_subkeys() -> None:
    ks = Keystore(os.urandom(32))
    blob = ks.seal_text("6212340000000000012", "merchant:1:bank-account")
    with pytest.raises(InvariantViolation):
        ks.unwrap_key(blob, "merchant:1:bank-account")
    assert ks.open_text(blob, "merchant:1:bank-account") == "6212340000000000012"


def test_tokens_are_keyed_and_deterministic() -> None:
    a, b = Keystore(os.urandom(32)), Keystore(os.urandom(32))
    assert a.token("6212340000000000012") == a.token("6212340000000000012")
    assert a.token("6212340000000000012") != b.token("6212340000000000012")
    assert a.token("x", kind="pan") != a.token("x", kind="merchant-identity")


def test_masks() -> None:
    assert mask_pan("6212340000000000012") == "621234*********0012"
    assert mask_tail("121900001234567") == "***********4567"


def test_zone_pin_keys_travel_under_the_zone_master_key() -> None:
    """The network link's key exchange (docs/networks.md): a ZPK wrapped by one end
    opens at the other with the same master key, and is refused with another."""
    master = os.urandom(32)
    here, there, stranger = Keystore(master), Keystore(master), Keystore(os.urandom(32))
    zpk = tdes.generate_key()
    wrapped, check = here.wrap_zone_key(zpk)
    assert zpk not in wrapped and len(wrapped) == 16 and check == tdes.kcv(zpk, 3)
    assert there.unwrap_zone_key(wrapped, check) == zpk
    with pytest.raises(InvalidInput):
        stranger.unwrap_zone_key(wrapped, check)
    with pytest.raises(InvalidInput):
        there.unwrap_zone_key(wrapped[:8], check)


def test_link_proofs_name_the_role_and_both_nonces() -> None:
    master = os.urandom(32)
    a, b = os.urandom(16), os.urandom(16)
    proof = Keystore(master).link_proof("host", a, b)
    assert Keystore(master).link_proof("host", a, b) == proof
    assert Keystore(master).link_proof("networks", a, b) != proof  # no reflection
    assert Keystore(master).link_proof("host", b, a) != proof
    assert Keystore(os.urandom(32)).link_proof("host", a, b) != proof
