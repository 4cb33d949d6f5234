"""Sign-on gives fresh working keys under the TMK; the host admits only the bound,
unfrozen, signed-on terminal of the merchant it names (spec 4.1, 4.2)."""

import pytest
from tests.conftest import approved, business_application

from tillpoint.app import Tillpoint
from tillpoint.security import tdes
from tillpoint.terminals.models import TerminalStatus
from tillpoint.terminals.signon import HostRefusal


@pytest.fixture
def terminal(tp: Tillpoint) -> tuple[str, str, bytes]:
    mid = approved(tp, business_application())
    p = tp.terminals.add("SN0001", "P1", "w")
    tp.terminals.bind(p.terminal.tid, mid, "ops")
    return p.terminal.tid, mid, bytes.fromhex(p.tmk_hex)


def test_sign_on_gives_fresh_keys_and_activates(
    tp: Tillpoint, terminal: tuple[str, str, bytes]
) -> None:
    tid, mid, tmk = terminal
    first = tp.signon.sign_on(tid, mid, "001")
    assert first.batch_no == "000001"
    assert tp.terminals.get(tid).status is TerminalStatus.ACTIVE
    admitted = tp.signon.admit(tid, mid)
    # The block holds exactly the keys the host now uses, under the TMK, with KCVs.
    for i, key in enumerate((admitted.pik, admitted.mak, admitted.tdk)):
        assert first.key_block[i * 20 : i * 20 + 16] == tdes.encrypt_ecb(tmk, key)
        assert first.key_block[i * 20 + 16 : i * 20 + 20] == tdes.kcv(key)
    assert len({admitted.pik, admitted.mak, admitted.tdk}) == 3

    second = tp.signon.sign_on(tid, mid, "001")
    again = tp.signon.admit(tid, mid)
    assert second.generation == first.generation + 1
    assert again.mak != admitted.mak  # the earlier keys stopped working
    assert second.batch_no == "000001"  # same open batch
    assert [e.to_status for e in tp.terminals.history(tid)].count(TerminalStatus.ACTIVE) == 1


def test_sign_off_retires_the_keys(tp: Tillpoint, terminal: tuple[str, str, bytes]) -> None:
    tid, mid, _ = terminal
    tp.signon.sign_on(tid, mid, "001")
    tp.signon.sign_off(tid, mid)
    with pytest.raises(HostRefusal) as e:
        tp.signon.admit(tid, mid)
    assert e.value.response_code == "A0"


def test_refusals_and_their_response_codes(tp: Tillpoint, terminal: tuple[str, str, bytes]) -> None:
    tid, mid, _ = terminal
    other_mid = approved(tp, business_application(2))
    spare = tp.terminals.add("SN0002", "P1", "w").terminal.tid

    def code(t: str, m: str) -> str:
        with pytest.raises(HostRefusal) as e:
            tp.signon.sign_on(t, m, "001")
        return e.value.response_code

    assert code("99999999", mid) == "97"  # unknown
    assert code(spare, mid) == "97"  # not bound
    assert code(tid, other_mid) == "03"  # field 42 is not its merchant
    tp.terminals.freeze(tid, "risk", "moved")
    assert code(tid, mid) == "58"
    tp.terminals.unfreeze(tid, "risk", "ok")
    tp.merchants.suspend(mid, "risk", "review")
    assert code(tid, mid) == "03"
    tp.merchants.reinstate(mid, "risk", "ok")
    assert tp.signon.sign_on(tid, mid, "001").batch_no == "000001"


def test_working_keys_are_stored_only_encrypted(
    tp: Tillpoint, terminal: tuple[str, str, bytes]
) -> None:
    from sqlalchemy import text

    tid, mid, _ = terminal
    tp.signon.sign_on(tid, mid, "001")
    keys = tp.signon.admit(tid, mid)
    with tp.ctx.db.engine.connect() as c:
        dump = b"".join(
            bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
            for row in c.execute(text("SELECT * FROM terminal_working_keys")).all()
            for v in row
        )
    for key in (keys.pik, keys.mak, keys.tdk):
        assert key not in dump and key.hex().encode() not in dump.lower()
