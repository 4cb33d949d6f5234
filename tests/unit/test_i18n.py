"""Chinese and English in every user-facing text."""

import re
import subprocess
import sys

from tillpoint.core.catalog import extract
from tillpoint.core.i18n import catalogue, normalise_locale
from tillpoint.labels import LABELLED

PLACEHOLDER = re.compile(r"\{[^}]*\}")


def test_every_message_has_a_chinese_translation() -> None:
    zh = catalogue("zh_CN")
    missing = sorted(m for m in extract() if m not in zh)
    assert missing == [], "run python -m tillpoint.core.catalog and translate these"


def test_catalogue_holds_nothing_obsolete() -> None:
    assert sorted(set(catalogue("zh_CN")) - set(extract())) == []


def test_translations_keep_their_placeholders() -> None:
    wrong = [
        (msgid, msgstr)
        for msgid, msgstr in catalogue("zh_CN").items()
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(msgstr))
    ]
    assert wrong == []


def test_every_enum_value_shown_to_people_is_marked() -> None:
    messages = extract()
    unmarked = [f"{e.__name__}.{v.name}" for e in LABELLED for v in e if v.value not in messages]
    assert unmarked == []


def test_locale_names() -> None:
    assert normalise_locale("zh_CN.UTF-8") == "zh_CN"
    assert normalise_locale("zh-Hans") == "zh_CN"
    assert normalise_locale("en_US.UTF-8") == "en"
    assert normalise_locale(None) == "en"


def test_the_cli_speaks_chinese() -> None:
    env = {"TILLPOINT_LOCALE": "zh_CN", "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    helped = subprocess.run(
        [sys.executable, "-m", "tillpoint", "merchants", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "商户" in helped.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "tillpoint", "merchants", "list"],
        capture_output=True,
        text=True,
        env={**env, "TILLPOINT_DATABASE_URL": "sqlite:////nonexistent/x.db"},
        check=False,
    )
    assert refused.returncode == 2
    assert "错误" in refused.stderr and "TILLPOINT_MASTER_KEY" in refused.stderr


def test_refusals_translate_their_statuses_too() -> None:
    from tillpoint.core.errors import Refused
    from tillpoint.core.i18n import set_locale
    from tillpoint.merchants.models import MerchantStatus

    err = Refused(
        "merchant.already",
        "Merchant {ref} is already {status}",
        ref="898310054110001",
        status=MerchantStatus.APPROVED,
    )
    assert str(err) == "Merchant 898310054110001 is already approved"
    set_locale("zh_CN")
    assert err.localized() == "商户 898310054110001 状态已是「已通过」"


def test_a_status_and_a_time_label_have_messages_of_their_own() -> None:
    """ "Approved" is response code 00, a status; the time a merchant was approved has its
    own label (it once shared the status's msgid, so 00 read 通过时间 in Chinese)."""
    zh = catalogue("zh_CN")
    assert zh["Approved"] == "成功"
    assert zh["Approved on"] == "通过时间"
