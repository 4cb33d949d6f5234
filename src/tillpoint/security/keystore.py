"""Secrets at rest: every key and sensitive number is stored encrypted under the master key.

The master key never encrypts anything directly. HKDF derives one sub-key per purpose
(wrapping keys, wrapping personal data, tokenising card numbers, the fingerprint), so
that a weakness in one use cannot leak into another. Ciphertexts are AES-256-GCM with
the record they belong to as associated data: a wrapped key copied onto another
terminal's row fails to decrypt instead of silently working there.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tillpoint.core.errors import InvalidInput, InvariantViolation
from tillpoint.core.i18n import N_

_VERSION = b"\x01"
_NONCE_BYTES = 12


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class Keystore:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise InvalidInput("keystore.master_key_length", N_("The master key must be 32 bytes"))
        self._keys = AESGCM(_derive(master_key, b"tillpoint/v1/wrap-keys"))
        self._data = AESGCM(_derive(master_key, b"tillpoint/v1/wrap-data"))
        self._documents = AESGCM(_derive(master_key, b"tillpoint/v1/wrap-documents"))
        # Keyed once: each token copies the keyed state (half the cost of keying anew).
        self._tokens = hmac.new(
            _derive(master_key, b"tillpoint/v1/pan-token"), digestmod=hashlib.sha256
        )
        self.fingerprint = _derive(master_key, b"tillpoint/v1/fingerprint")[:8].hex()

    @staticmethod
    def _seal(aead: AESGCM, clear: bytes, context: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + aead.encrypt(nonce, clear, context.encode())

    @staticmethod
    def _open(aead: AESGCM, blob: bytes, context: str) -> bytes:
        if blob[:1] != _VERSION:
            raise InvariantViolation("keystore.version", "Unknown ciphertext version")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return aead.decrypt(nonce, body, context.encode())
        except InvalidTag:
            # Wrong master key, tampering, or a blob moved to another record.
            raise InvariantViolation(
                "keystore.unwrap_failed", "A stored secret failed its integrity check"
            ) from None

    def wrap_key(self, key: bytes, context: str) -> bytes:
        """Encrypt a cryptographic key for storage; ``context`` names its owner and role."""
        return self._seal(self._keys, key, context)

    def unwrap_key(self, blob: bytes, context: str) -> bytes:
        return self._open(self._keys, blob, context)

    def seal_text(self, text: str, context: str) -> bytes:
        """Encrypt personal data (identity numbers, bank accounts) for storage."""
        return self._seal(self._data, text.encode(), context)

    def open_text(self, blob: bytes, context: str) -> str:
        return self._open(self._data, blob, context).decode()

    def seal_bytes(self, data: bytes, context: str) -> bytes:
        """Encrypt other sensitive data for storage (an answer holding a secret)."""
        return self._seal(self._data, data, context)

    def open_bytes(self, blob: bytes, context: str) -> bytes:
        return self._open(self._data, blob, context)

    def seal_document(self, data: bytes, merchant_id: int, document_id: int) -> bytes:
        """Encrypt an application's document (an identity card's photo, a licence) under
        its own sub-key, bound to its merchant and its id."""
        return self._seal(self._documents, data, _document_context(merchant_id, document_id))

    def open_document(self, blob: bytes, merchant_id: int, document_id: int) -> bytes:
        return self._open(self._documents, blob, _document_context(merchant_id, document_id))

    def token(self, value: str, kind: str = "pan") -> str:
        """A keyed, deterministic token: the same card gives the same token, and nobody
        without the master key can test guesses against it (unlike a plain hash)."""
        mac = self._tokens.copy()
        mac.update(f"{kind}:{value}".encode())
        return mac.hexdigest()


def _document_context(merchant_id: int, document_id: int) -> str:
    return f"merchant:{merchant_id}:document:{document_id}"


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits: the most a receipt or a record may show."""
    return pan[:6] + "*" * max(len(pan) - 10, 0) + pan[-4:]


def mask_tail(value: str, keep: int = 4) -> str:
    """Everything hidden but the last ``keep`` characters (bank accounts, ID numbers)."""
    return "*" * max(len(value) - keep, 0) + value[-keep:]
