import pytest
from tests.conftest import credit_code, resident_id

from tillpoint.core.errors import InvalidInput
from tillpoint.merchants import validation as v
from tillpoint.merchants.models import MerchantKind


def test_resident_id_check_digit() -> None:
    # Published example number of GB 11643-1999: 11010519491231002X.
    assert v.resident_id("11010519491231002x") == "11010519491231002X"
    with pytest.raises(InvalidInput, match="check digit"):
        v.resident_id("110105194912310021")
    with pytest.raises(InvalidInput, match="birth date"):
        v.resident_id(resident_id("11010519491331002"))
    with pytest.raises(InvalidInput, match="malformed"):
        v.resident_id("1234")


def test_unified_social_credit_code() -> None:
    # A real, published code (Tencent Technology (Shenzhen) Co., Ltd.).
    assert v.credit_code("licence", "9144030071526726XG") == "9144030071526726XG"
    assert v.credit_code("licence", credit_code("91310104MA1FL0001")).startswith("913101")
    with pytest.raises(InvalidInput, match="check character"):
        v.credit_code("licence", "9144030071526726XH")
    with pytest.raises(InvalidInput, match="malformed"):
        v.credit_code("licence", "91440300715267I6XG")  # I is not in the alphabet


@pytest.mark.parametrize("mcc", ["541", "54111", "abcd", "0000"])
def test_malformed_or_unknown_mcc(mcc: str) -> None:
    with pytest.raises(InvalidInput, match="MCC"):
        v.mcc(mcc, MerchantKind.BUSINESS)


def test_personal_merchants_cannot_take_regulated_categories() -> None:
    assert v.mcc("7995", MerchantKind.BUSINESS) == "7995"
    with pytest.raises(InvalidInput, match="business licence"):
        v.mcc("7995", MerchantKind.PERSONAL)


def test_bank_accounts() -> None:
    assert v.bank_account("6212 3400 0000 0000 012", MerchantKind.PERSONAL) == "6212340000000000012"
    with pytest.raises(InvalidInput, match="check digit"):
        v.bank_account("6212340000000000013", MerchantKind.PERSONAL)
    with pytest.raises(InvalidInput, match="malformed"):
        v.bank_account("12345", MerchantKind.BUSINESS)
    assert v.bank_account("121900001234567", MerchantKind.BUSINESS) == "121900001234567"


@pytest.mark.parametrize("number", ["13912345678", "+8613912345678", "021-61234567", "02161234567"])
def test_phones_accepted(number: str) -> None:
    assert v.phone(number)


@pytest.mark.parametrize("number", ["12345678901", "phone", "139123456789"])
def test_phones_refused(number: str) -> None:
    with pytest.raises(InvalidInput):
        v.phone(number)
