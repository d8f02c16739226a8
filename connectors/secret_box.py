"""Connector secrets sealed at rest.

Every secret of a registered connector's config (the ``SecretStr`` / ``SecretBytes`` fields of
its plugin's model: tokens, passwords, HMAC keys) is stored in the hub database as
``{"$sealed": "<Fernet token>"}`` -- AES-128-CBC with HMAC-SHA256 over the value's JSON text,
under a key that is *not* in the database: ``HUB_CONNECTOR_SECRETS_KEYS`` (comma-separated
Fernet keys), else the file ``HUB_CONNECTOR_SECRETS_KEY_PATH`` (default
``<var_dir>/keys/connector-secrets.key``, created 0600 on first use, one key per line). A
database dump or replica alone does not give the secrets away.

The first key seals; every key unseals, so a key is rotated by putting a new one first:
:meth:`SecretBox.reseal_config` (run for every connector when the API starts) re-seals what an
older key sealed, and plaintext left by a hub version that stored secrets in clear.

Every process that reads connector configs (the API, every connect worker, ``hub dlq``) needs
the same keys: on several hosts, set ``HUB_CONNECTOR_SECRETS_KEYS`` everywhere (or share the file).
A value no key opens raises :class:`SecretsUnavailable`; the connector shows FAILED with a
message saying so, and a PUT of its config with the secrets typed again recovers it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel

from connectors.secret_fields import walk_secrets

SEALED = "$sealed"


class SecretsUnavailable(ValueError):
    """A sealed secret that none of this process's keys opens (message: what to do, no values)."""


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED} and isinstance(value[SEALED], str)


def _parse_keys(text: str, where: str) -> list[bytes]:
    keys = [k.strip().encode("ascii") for k in text.replace(",", "\n").split() if k.strip()]
    if not keys:
        raise ValueError(f"{where} holds no key")
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(f"{where}: key {n} is not a Fernet key (url-safe base64 of 32 bytes; make one with "
                             "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
                             ) from None
    return keys


class SecretBox:
    """Seals and unseals the secret positions of plugin configs (see the module docstring)."""

    def __init__(self, keys: Sequence[bytes | str]):
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        fernets = [Fernet(k) for k in keys]
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)

    @classmethod
    def generate(cls) -> SecretBox:
        """A box with a fresh random key (tests, tools)."""
        return cls([Fernet.generate_key()])

    @classmethod
    def from_settings(cls, settings) -> SecretBox:
        """The keys of ``HUB_CONNECTOR_SECRETS_KEYS``, else of the key file (created on first use)."""
        from ops.keyfile import create_key_file

        if settings.connector_secrets_keys is not None:
            return cls(_parse_keys(settings.connector_secrets_keys.get_secret_value(), "HUB_CONNECTOR_SECRETS_KEYS"))
        path = cls.key_path(settings)
        if not path.exists():
            create_key_file(path, Fernet.generate_key() + b"\n")
        return cls(_parse_keys(path.read_text("ascii"), str(path)))

    @staticmethod
    def key_path(settings) -> Path:
        """The key file ``settings`` name (used when ``HUB_CONNECTOR_SECRETS_KEYS`` is unset)."""
        return Path(settings.connector_secrets_key_path or settings.var_dir / "keys" / "connector-secrets.key")

    # -- one value -------------------------------------------------------------------------

    def seal(self, value: Any) -> dict[str, str]:
        """``value`` (any JSON value) sealed under the first key."""
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return {SEALED: self._primary.encrypt(text.encode("utf-8")).decode("ascii")}

    def unseal(self, value: Any) -> Any:
        """The JSON value inside a sealed value; anything else (legacy plaintext) as it is."""
        if not is_sealed(value):
            return value
        try:
            return json.loads(self._all.decrypt(value[SEALED].encode("ascii")))
        except (InvalidToken, ValueError):
            raise SecretsUnavailable(
                "a secret of this connector was sealed with a key this process does not have: give it the key "
                "that sealed it (HUB_CONNECTOR_SECRETS_KEYS or the key file), or PUT the config with its secrets "
                "typed again") from None

    def _current(self, value: Any) -> bool:
        if not is_sealed(value):
            return False
        try:
            self._primary.decrypt(value[SEALED].encode("ascii"))
        except InvalidToken:
            return False
        return True

    # -- a plugin config -------------------------------------------------------------------

    def seal_config(self, config: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
        """``config`` with every secret sealed (values already sealed are kept as they are)."""
        return walk_secrets(config, None, model, lambda v, _old: v if is_sealed(v) else self.seal(v))

    def unseal_config(self, config: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
        """``config`` with every secret opened; raises :class:`SecretsUnavailable`."""
        return walk_secrets(config, None, model, lambda v, _old: self.unseal(v))

    def reseal_config(self, config: dict[str, Any], model: type[BaseModel]) -> tuple[dict[str, Any], bool]:
        """``(config sealed under the first key, whether anything changed)``: plaintext is sealed
        and what an older key sealed is sealed again; raises :class:`SecretsUnavailable`."""
        changed = False

        def one(value: Any, _old: Any) -> Any:
            nonlocal changed
            if self._current(value):
                return value
            changed = True
            return self.seal(self.unseal(value))

        return walk_secrets(config, None, model, one), changed
