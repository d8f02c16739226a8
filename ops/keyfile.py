"""Private key files: created once, atomically, readable only by the hub's user.

The electronic certificates and the federation sign with Ed25519 keys kept as PEM files, and a
hub configured for SM2 keeps its federation key as a hex file; all live under ``var_dir`` (not in
the database, so backups and replicas do not carry them).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def create_key_file(path: Path, secret: bytes) -> None:
    """Write ``secret`` to ``path`` (mode 0600, directory 0700) unless a file is already there.

    Concurrent starts race safely: the key is written to a private temporary file and hard-linked
    into place; if another process linked first, its key is the key and ours is discarded.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secret)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def create_ed25519_pem(path: Path) -> None:
    """Write a new Ed25519 private key (PKCS#8 PEM) to ``path`` unless one exists (see :func:`create_key_file`)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    create_key_file(path, pem)
