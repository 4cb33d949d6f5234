"""The words the till's scripts show, marked here for translation (the catalogue reads
Python and templates, not JavaScript): the page sends them, in its language, with its
data, and the scripts look them up by their English text."""

from __future__ import annotations

from tillpoint.core.i18n import N_, _

TEXTS: tuple[str, ...] = (
    # the catalogue's copy and the server
    N_("Catalogue: on the server"),
    N_("Catalogue: copying {count} products…"),
    N_("Catalogue: {count} products on this till"),
    N_("Catalogue: the copy stopped ({why}); scans ask the server"),
    N_("The server cannot be reached: check the network"),
    N_("Signed out: sign in again (the cart is kept)"),
    N_("Sign in"),
    # the cart
    N_("Scan to start a sale"),
    N_("No product found for {text}"),
    N_("{name} ({sku}) is not on sale: it is inactive in the catalogue"),
    N_("{name} ({sku}) is sold by the piece: a scale's weight does not fit"),
    N_("The scale's label weighs nothing"),
    N_("Weight of {name} (kg)"),
    N_("Quantity of {name}"),
    N_("Price of {name} (yuan)"),
    N_("Discount on {name}: yuan, or a percentage ending in %"),
    N_("Discount on the order: yuan, or a percentage ending in %"),
    N_("Choose a line first"),
    N_("A weight is in kg with at most three decimals, more than 0"),
    N_("A quantity is a whole number of pieces, more than 0"),
    N_("An amount is in yuan with at most two decimals"),
    N_("A percentage is 0 to 100 with at most two decimals"),
    N_("The discount is more than the line"),
    N_("The discount is more than the order"),
    N_("A manager's approval is needed: {why}"),
    N_("a price was changed"),
    N_("the discounts are more than 10%"),
    N_("a return"),
    N_("Approved by {login}"),
    N_("price changed from {price}"),
    N_("Choose the counter first"),
    N_("Prices were updated from the server: check the total"),
    # paying
    N_("To pay"),
    N_("Paid"),
    N_("Change"),
    N_("Exact"),
    N_("Waiting for the terminal: {amount} on its screen"),
    N_("Waiting for the customer to scan the QR code: {amount}"),
    N_("Scan the customer's payment code now"),
    N_("That is not a wallet's payment code"),
    N_("Charging the wallet…"),
    N_("{kind} {amount}: {why}"),
    N_("Cash received {received}, change {change}"),
    N_("Receipt {number}"),
    N_("Nothing to print yet"),
    N_("Cancel this order? Card, wallet and QR money is refunded, cash goes back."),
    N_("Order {id} canceled"),
    N_("Held: recall it from the menu"),
    N_("No held orders"),
    N_("held at {time} · {n} items"),
    # returns
    N_("Find the sale: its receipt number, or scan its receipt's QR code"),
    N_("No sale with receipt {number} in this shop"),
    N_("sold {sold}, returned {returned}"),
    N_("Nothing to take back: choose a quantity"),
    N_("Paid back: {amount}"),
    N_("Still to pay back: {amount}"),
    N_("Pay the rest back in cash"),
    # the shift
    N_("Shift {number} · till {till}"),
    N_("Open a shift"),
    N_("Till {till} has shift {number} open (by {who}): continue it"),
    N_("Over"),
    N_("Short"),
    N_("Even"),
    # members (cashier-members.js)
    N_("An order takes at most 3 coupons"),
    N_("Coupon {code} cannot be used today"),
    N_("Coupon {code} is another member's"),
    N_("Coupon {code} needs a spend of {min} or more"),
    N_("Coupon {name}"),
    N_("Member {mobile} signed up"),
    N_("Member {mobile}: {earned} points earned, balance {balance}"),
    N_("No member has that number: sign them up with their consent"),
    N_("Redeem points"),
    N_("Redeeming {points} points"),
    N_("The customer must agree to the notice to join"),
    N_("Type or scan the customer's mobile number, then Find"),
    N_("from {min}"),
    N_("member price, was {price}"),
    N_("this sale earns {points}"),
    N_("up to {value}"),
    N_("{points} points redeemed"),
    N_("{points} points"),
    # the display
    N_("Welcome"),
    N_("Scan with your wallet app to pay"),
    N_("Paid, thank you"),
    N_("Scan for your e-receipt"),
    N_("Total"),
    # tender kinds and states, as the scripts name them
    N_("cash"),
    N_("card"),
    N_("wallet"),
    N_("qr"),
    N_("pending"),
    N_("paid"),
    N_("failed"),
    N_("canceled"),
    N_("refunded"),
)


def texts() -> dict[str, str]:
    """Every text of the scripts in the current language."""
    return {message: _(message) for message in TEXTS}
