"""Receipts of payments (交易凭证) and the cardholder's e-signature (电签): a page at an
unguessable link with its QR code, and the same receipt as ESC/POS bytes for printers."""
