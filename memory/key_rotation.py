"""Rotating the master key (DORA_SECRET_KEY) without re-encrypting every row.

Everything DORA encrypts hangs off one root secret: users' data keys are wrapped by keys derived
from it, opaque user names and the checkpoint key are derived from it. The master key only wraps
that root (``DATA_DIR/root.key``), so rotating the master re-encrypts one small file, whatever the
size of the data: the standard key-encryption-key rotation. A data dir made before the root file
existed uses its master key as the root; the first start writes that root, wrapped, and from then
on the master can change.

Rotation replaces the key that unlocks the data, not the data keys themselves: someone holding
both the old master and an old copy of ``root.key`` could still read old backups. To re-key the
data itself, export each user and import them into a fresh data dir.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from memory.crypto import KEY_BYTES, DecryptionError, hkdf, key_check

ROOT_FILE = "root.key"
_NONCE = 12


def _wrapper(master: bytes) -> AESGCM:
    return AESGCM(hkdf(master, "dora/root-wrapping"))


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _seal(root: bytes, master: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE)
    return base64.b64encode(nonce + _wrapper(master).encrypt(nonce, root, b"dora/root")).decode("ascii")


def load_or_create_root(master: bytes, data_dir: Path) -> bytes:
    """The data dir's root secret, unwrapped with ``master``; created on first use (for a data dir
    from before rotation existed, the root is the master key it was made with)."""
    path = data_dir / ROOT_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, _seal(master, master))
        return master
    raw = base64.b64decode(path.read_text(encoding="ascii").strip())
    try:
        root = _wrapper(master).decrypt(raw[:_NONCE], raw[_NONCE:], b"dora/root")
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError(
            f"{path} can't be unwrapped: DORA_SECRET_KEY (or DATA_DIR/secret.key) is not the current "
            "master key of this data dir"
        ) from exc
    if len(root) != KEY_BYTES:
        raise DecryptionError(f"{path} is damaged")
    return root


def rotate_master(data_dir: Path, old_master: bytes, new_master: bytes) -> None:
    """Re-wrap the root under ``new_master`` and make the data dir expect it. Stop the bot first:
    running workers hold the old master and would refuse to start again until given the new one."""
    root = load_or_create_root(old_master, data_dir)
    _write_atomically(data_dir / ROOT_FILE, _seal(root, new_master))
    _write_atomically(data_dir / "key.check", key_check(new_master))
