"""The statement's PDF carries its font: a subset of the shipped Noto Sans SC, embedded,
so that a merchant's Chinese name shows in any reader and can be copied back; and the
shipped font is the release file its manifest names."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

from tests.conftest import approved, personal_application
from tests.pdfcheck import check_embedded

from tillpoint.app import Tillpoint
from tillpoint.clearing import statements
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind


def test_the_pdf_embeds_a_subset_of_its_font(tp: Tillpoint) -> None:
    mid = approved(tp, personal_application(display_name="李记面馆 Li's Noodles & Co <1>"))
    with tp.ctx.db.transaction() as s:
        ledger.post(s, EntryKind.CAPTURE, ledger.capture_lines("CUP", mid, 12_345, 62),
                    business_date=tp.days.open_date(), at=tp.ctx.now(), memo="test")  # fmt: skip
    day = tp.days.cut_off("ops")
    tp.settlement.run(day)
    pdf = tp.statements.pdf(tp.statements.statement(mid, day))
    assert pdf.startswith(b"%PDF")
    found = check_embedded(pdf, "李记面馆 Li's Noodles & Co <1>", "结算单 / Settlement statement",
                           "划款金额 / Payout", "122.83", mid)  # fmt: skip
    assert {f.subtype for f in found} == {"TrueType"}
    assert all(f.name.endswith("+NotoSansSC-Regular") for f in found), found  # subsets
    assert b"STSong" not in pdf and b"Helvetica" not in pdf
    assert len(pdf) < 200_000  # a subset: the whole font is 10 MB


def test_the_shipped_font_is_the_release_file_its_manifest_names() -> None:
    fonts = statements.FONT_FILE.parent
    manifest = json.loads((fonts / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["package"] and manifest["version"] and manifest["integrity"]
    names = {f["path"] for f in manifest["files"]}
    assert statements.FONT_FILE.name in names
    for f in manifest["files"]:
        data = (fonts / f["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["bytes"], f["sha256"])
        assert f["licence"] == "OFL-1.1"
    assert (fonts / "OFL-1.1.txt").read_text(encoding="utf-8").count("SIL OPEN FONT LICENSE") >= 1


def test_making_no_pdf_imports_no_reportlab() -> None:
    """The statements module (and with it every service) loads without reportlab: it is
    imported when a PDF is made."""
    probe = "import sys, tillpoint.app; sys.exit('reportlab' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], check=False, timeout=120).returncode == 0
