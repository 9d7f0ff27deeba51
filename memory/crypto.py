"""Encryption at rest, with a key per user so that a wipe can shred what deletion cannot reach.

Layout:
- a *master key* (``DORA_SECRET_KEY`` or ``DATA_DIR/secret.key``, 0600) never encrypts user data
  itself; HKDF derives from it a key for naming users on disk and a key for wrapping user keys;
- each user gets a random *data key*, stored wrapped (AES-GCM) in a :class:`FileKeyStore`;
- from the data key HKDF derives the AES-GCM text key and the HMAC key for lexical tokens, so
  neither the text nor the words of one user can be read or matched without that user's key, and
  (:meth:`Keyring.user_secret`) the key of the user's conversation checkpoints.

Deleting the wrapped data key makes every copy of the user's ciphertext (Chroma's free pages, old
backups) unreadable: crypto-shredding backs up the hard delete.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
_NONCE_BYTES = 12
_TOKEN_HASH_BYTES = 8


class CryptoError(Exception):
    """Base for key problems; the message always says which setting or file to fix."""


class CorruptKeyError(CryptoError):
    pass


class DecryptionError(CryptoError):
    pass


def hkdf(key: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info.encode()).derive(key)


def generate_key_text() -> str:
    """A new master key as DORA_SECRET_KEY expects it (urlsafe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_key_text(text: str, origin: str) -> bytes:
    """Decode a master key, or explain which setting or file holds a bad one."""
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError) as exc:
        raise CorruptKeyError(f"{origin} is not a valid key (urlsafe base64 of 32 bytes): {exc}") from None
    if len(raw) != KEY_BYTES:
        raise CorruptKeyError(
            f"{origin} is not a valid key: it decodes to {len(raw)} bytes, expected {KEY_BYTES}. "
            "Generate one with `dora keys generate`."
        )
    return raw


def key_check(master: bytes) -> str:
    return hmac.new(master, b"dora/key-check", hashlib.sha256).hexdigest()


def load_or_create_master_key(
    secret_key: str | None, key_file: Path, check_file: Path | None = None
) -> bytes:
    """The master key from the setting, else from ``key_file``, creating that file (0600) on first run.

    ``check_file`` remembers which key a data dir was made with, so a wrong or lost key is an
    error at start, instead of every user silently looking new (and their old data orphaned).
    """
    if secret_key:
        master = parse_key_text(secret_key, "DORA_SECRET_KEY")
        origin = "DORA_SECRET_KEY"
    elif key_file.exists():
        master = parse_key_text(
            key_file.read_text(encoding="ascii", errors="replace"), f"key file {key_file}"
        )
        origin = f"the key file {key_file}"
    elif check_file is not None and check_file.exists():
        raise CorruptKeyError(
            f"{key_file} is missing, but this data dir holds data encrypted with a key: restore that file "
            "or set DORA_SECRET_KEY to the key it held"
        )
    else:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        text = generate_key_text()
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text + "\n")
        master = parse_key_text(text, f"key file {key_file}")
        origin = f"the key file {key_file}"
    if check_file is not None:
        if check_file.exists():
            if check_file.read_text(encoding="ascii", errors="replace").strip() != key_check(master):
                raise DecryptionError(
                    f"{origin} is not the key this data dir was created with: set DORA_SECRET_KEY "
                    "(or DATA_DIR/secret.key) to the original key"
                )
        else:
            check_file.parent.mkdir(parents=True, exist_ok=True)
            check_file.write_text(key_check(master) + "\n", encoding="ascii")
    return master


@dataclass(frozen=True)
class UserCipher:
    """Everything keyed to one user: text encryption and lexical token hashing."""

    user_key: str  # the user's opaque on-disk name
    _aead: AESGCM
    _token_key: bytes

    def encrypt(self, text: str, context: str) -> str:
        """AES-GCM with ``context`` (the memory id) as associated data: ciphertext can't be moved."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), f"{self.user_key}|{context}".encode())
        return base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, blob: str, context: str) -> str:
        try:
            raw = base64.b64decode(blob.encode("ascii"))
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], f"{self.user_key}|{context}".encode()
            )
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise DecryptionError(
                "a stored memory could not be decrypted: DORA_SECRET_KEY or DATA_DIR/secret.key "
                "is not the key this data was written with"
            ) from exc
        return plain.decode("utf-8")

    def hash_token(self, token: str) -> str:
        """A keyed hash of a lemma: BM25 works on it, nobody can read or dictionary-match it."""
        digest = hmac.new(self._token_key, token.encode("utf-8"), hashlib.sha256).digest()
        return digest[:_TOKEN_HASH_BYTES].hex()


class FileKeyStore:
    """Wrapped per-user data keys, one small 0600 file each under ``DATA_DIR/keys``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, user_key: str) -> Path:
        return self.directory / f"{user_key}.key"

    def describe(self, user_key: str) -> str:
        return str(self._path(user_key))

    def load(self, user_key: str) -> bytes | None:
        path = self._path(user_key)
        return path.read_bytes() if path.exists() else None

    def add(self, user_key: str, wrapped: bytes) -> bytes:
        """Store ``wrapped`` unless the user has a key already; returns the key that is stored.
        Two workers creating the same user's key at once both get the one that won (a hard link
        is created atomically or not at all), so nothing is ever encrypted with a key that is lost."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.directory / f"{user_key}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(wrapped)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, self._path(user_key))
            except FileExistsError:
                return self._path(user_key).read_bytes()
            return wrapped
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, user_key: str) -> bool:
        """Overwrite, then unlink: the data key is what makes the user's ciphertext readable."""
        path = self._path(user_key)
        if not path.exists():
            return False
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
        return True


class KeyStore(Protocol):
    """Where wrapped per-user data keys live: files in the data dir, or PostgreSQL (several hosts)."""

    def load(self, user_key: str) -> bytes | None: ...

    def add(self, user_key: str, wrapped: bytes) -> bytes: ...

    def delete(self, user_key: str) -> bool: ...

    def describe(self, user_key: str) -> str:
        """Where the user's key is, for error messages."""
        ...


class Keyring:
    """Turns user ids into opaque names and hands out each user's :class:`UserCipher`."""

    def __init__(self, master_key: bytes, store: KeyStore) -> None:
        self._master = master_key
        self._naming_key = hkdf(master_key, "dora/user-naming")
        self._wrap = AESGCM(hkdf(master_key, "dora/key-wrapping"))
        self._store = store
        self._ciphers: dict[str, UserCipher] = {}
        self._user_secrets: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for another store, bound to ``purpose``; not a user's, so a wipe can't shred
        what it encrypts (checkpoints written before they had per-user keys are read with one)."""
        return hkdf(self._master, f"dora/{purpose}")

    def user_key(self, user_id: str) -> str:
        """An opaque, path-safe, stable name for a user id (a keyed hash: ids never reach the disk)."""
        if not isinstance(user_id, str) or not user_id.strip():
            raise ValueError("a user id is required (a non-empty string)")
        return hmac.new(self._naming_key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def has_user(self, user_id: str) -> bool:
        return self._store.load(self.user_key(user_id)) is not None

    def cipher(self, user_id: str, create: bool = True) -> UserCipher | None:
        """The user's cipher; creates the user's data key when ``create`` (writes), else None if absent."""
        return self.cipher_of_key(self.user_key(user_id), create)

    def cipher_of_key(self, user_key: str, create: bool = False) -> UserCipher | None:
        """The cipher of the user named ``user_key`` (the opaque name): operator tools that walk every
        collection, like ``dora memory reembed``, know users by that name only."""
        with self._lock:
            cached = self._ciphers.get(user_key)
            if cached is not None:
                return cached
            data_key = self._data_key(user_key, create)
            if data_key is None:
                return None
            cipher = UserCipher(
                user_key=user_key,
                _aead=AESGCM(hkdf(data_key, "dora/text")),
                _token_key=hkdf(data_key, "dora/lexical"),
            )
            self._ciphers[user_key] = cipher
            return cipher

    def user_secret(self, user_key: str, purpose: str, create: bool = True) -> bytes | None:
        """A 32-byte key for ``purpose`` derived from the data key of the user named ``user_key`` (the
        opaque name, for stores that hold only that, like checkpoint thread ids). It goes with the
        data key: after :meth:`shred` it can't be made again. None when the user has no data key and
        ``create`` is false (a reader must never create one)."""
        with self._lock:
            cached = self._user_secrets.get((user_key, purpose))
            if cached is not None:
                return cached
            data_key = self._data_key(user_key, create)
            if data_key is None:
                return None
            secret = hkdf(data_key, f"dora/{purpose}")
            self._user_secrets[(user_key, purpose)] = secret
            return secret

    def _data_key(self, user_key: str, create: bool) -> bytes | None:
        """The user's data key, unwrapped (created first when ``create``); call with the lock held."""
        wrapped = self._store.load(user_key)
        if wrapped is None:
            if not create:
                return None
            wrapped = self._store.add(user_key, self._new_wrapped_key(user_key))
        return self._unwrap(user_key, wrapped)

    def _new_wrapped_key(self, user_key: str) -> bytes:
        """A fresh data key, wrapped (another worker may store its own first: see ``KeyStore.add``)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._wrap.encrypt(nonce, secrets.token_bytes(KEY_BYTES), user_key.encode())

    def _unwrap(self, user_key: str, wrapped: bytes) -> bytes:
        try:
            return self._wrap.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], user_key.encode())
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(
                f"the data key of a user ({self._store.describe(user_key)}) can't be unwrapped: the "
                "master key (DORA_SECRET_KEY or DATA_DIR/secret.key) is not the one it was made with, or "
                "the stored key is damaged"
            ) from exc

    def shred(self, user_id: str) -> bool:
        """Forget the user's data key for good (part of a wipe)."""
        user_key = self.user_key(user_id)
        with self._lock:
            self._ciphers.pop(user_key, None)
            for cached in [k for k in self._user_secrets if k[0] == user_key]:
                del self._user_secrets[cached]
            return self._store.delete(user_key)
