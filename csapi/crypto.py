"""Secrets at rest (AES-GCM) and password hashing.

The AES key comes from the deployment (`CSAPI_ENCRYPTION_KEY`, URL-safe Base64 of 32 bytes) or
from a key file created with mode 0600 on first start (`--key-file`, `CSAPI_KEY_FILE`, default
`csapi.key` beside the working folder). Every management server sharing a database needs the
same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"
_NONCE = 12
# The widest plaintext whose ciphertext still fits a varchar(255) column.
MAX_SECRET_LENGTH = 160


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str | None) -> str | None:
        if plaintext is None:
            return None
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, stored: str | None) -> str | None:
        if stored is None:
            return None
        if not stored.startswith(_PREFIX):
            raise ValueError("value is not encrypted by csapi")
        raw = base64.urlsafe_b64decode(stored[len(_PREFIX):].encode("ascii"))
        return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], None).decode("utf-8")


def load_key(key_file: str | None = None) -> bytes:
    env = os.environ.get("CSAPI_ENCRYPTION_KEY")
    if env:
        return base64.urlsafe_b64decode(env.encode("ascii"))
    path = Path(key_file or os.environ.get("CSAPI_KEY_FILE") or "csapi.key")
    if path.exists():
        return base64.urlsafe_b64decode(path.read_bytes().strip())
    key = AESGCM.generate_key(bit_length=256)
    # O_EXCL + 0600: never world-readable, and two servers starting together don't clobber.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return base64.urlsafe_b64decode(path.read_bytes().strip())
    with os.fdopen(fd, "wb") as fh:
        fh.write(base64.urlsafe_b64encode(key) + b"\n")
    return key


# Passwords: salted PBKDF2-HMAC-SHA256, as CloudStack's PBKDF2 authenticator.
_ITERATIONS = 100_000


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, _ITERATIONS)
    return f"pbkdf2:{_ITERATIONS}:{base64.b64encode(salt).decode()}:{base64.b64encode(digest).decode()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("pbkdf2:"):
        return False
    _, iterations, salt, digest = stored.split(":")
    computed = hashlib.pbkdf2_hmac(
        "sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations)
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))


def new_api_key() -> str:
    # CloudStack: 64 random bytes, URL-safe Base64 without padding (86 characters).
    return base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")
