"""What each response code of the profile (field 39, spec section 5) means, in words a
cashier can act on."""

from __future__ import annotations

from tillpoint.core.i18n import N_, _

RESPONSE_TEXT: dict[str, str] = {
    "00": N_("Approved"),
    "03": N_("Invalid merchant"),
    "05": N_("Do not honour: the issuer refused"),
    # Not an answer of the host: what the terminal shows (and 39 of its reversal, 4.7)
    # when the card refused the issuer's approval, its ARPC (4.10).
    "06": N_("The card refused the issuer's answer: reversed"),
    "12": N_("Invalid transaction"),
    "13": N_("Invalid amount"),
    "14": N_("Invalid card number or code"),
    "22": N_("The original is already voided or reversed"),
    "25": N_("Original transaction not found"),
    "30": N_("Message format error"),
    "41": N_("Lost card: keep it"),
    "51": N_("Insufficient funds"),
    "54": N_("Expired card"),
    "55": N_("Incorrect PIN or password"),
    "58": N_("Not permitted to this terminal"),
    "59": N_("Suspected fraud: declined"),
    "61": N_("Exceeds the amount limit"),
    "64": N_("Amount does not match the original"),
    "75": N_("Too many wrong PINs or passwords"),
    "88": N_("The card's cryptogram did not verify"),
    "94": N_("Duplicate transmission"),
    "96": N_("System malfunction: try again"),
    "97": N_("Terminal not registered or not bound"),
    "98": N_("The issuer did not answer in time"),
    "A0": N_("MAC check failed: sign on again"),
}


def describe(code: str) -> str:
    """The meaning of a response code in the current language."""
    text = RESPONSE_TEXT.get(code)
    return _(text) if text else _("Declined ({code})").format(code=code)
