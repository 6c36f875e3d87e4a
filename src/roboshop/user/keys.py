"""The signing key set: session tokens are signed here and verified anywhere from the published JWKS.

Keys are ES256 (P-256) key pairs kept in the user database, so every replica signs with the same set. The
first start creates generation 1; :meth:`SigningKeys.rotate` adds the next generation, which signs from its
``activates_at`` on, while older keys stay published until the last tokens they signed have expired (see
:func:`roboshop.user.domain.published_keys`). A key's ``kid`` is its RFC 7638 thumbprint.

Private keys are stored as PKCS#8 PEM, encrypted with ``ROBOSHOP_USER_KEY_PASSPHRASE`` when it is set
(unencrypted otherwise: then the database's own protection is the only one). Each row also keeps the public
JWK, so publishing the JWKS never needs the passphrase.

Replicas reread the set every ``reload_interval_s`` (and at once when a token names a key they do not know),
so a rotation made by one replica or by ``python -m roboshop.user rotate-keys`` reaches all of them; the JWKS
is always read fresh from the database.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from roboshop.user.domain import KeyVersion, published_keys, signing_key, subject_of
from roboshop.user.store import SigningKeyStore, StoredKey
from roboshop.user.tokens import ALGORITHMS, LEEWAY_S, InvalidSession, Session, TokenVerifier, UnknownSigningKey

ALGORITHM = ALGORITHMS[0]
ROTATION_ATTEMPTS = 5


class KeySetError(Exception):
    """The stored keys cannot be used (a wrong or missing passphrase, a damaged row)."""


@dataclass(frozen=True, slots=True)
class _LoadedKey:
    version: KeyVersion
    public_jwk: dict[str, Any]
    private_key: ec.EllipticCurvePrivateKey


def new_key(generation: int, *, now: int, activates_at: int, passphrase: bytes | None) -> StoredKey:
    private_key = ec.generate_private_key(ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    kid = thumbprint(public)
    return StoredKey(
        generation=generation,
        kid=kid,
        private_pem=pem,
        public_jwk={**public, "kid": kid, "alg": ALGORITHM, "use": "sig"},
        created_at=now,
        activates_at=activates_at,
    )


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, without whitespace."""
    required = {member: jwk[member] for member in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(orjson.dumps(required, option=orjson.OPT_SORT_KEYS)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class SigningKeys:
    def __init__(
        self,
        store: SigningKeyStore,
        *,
        issuer: str,
        audience: str,
        token_ttl_s: int,
        grace_s: int = 300,
        passphrase: bytes | None = None,
        reload_interval_s: float = 30.0,
        unknown_key_reload_interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._issuer = issuer
        self._audience = audience
        self._token_ttl_s = token_ttl_s
        self._retire_after_s = token_ttl_s + grace_s
        self._passphrase = passphrase
        self._reload_interval_s = reload_interval_s
        self._unknown_key_reload_interval_s = unknown_key_reload_interval_s
        self._clock = clock
        self._keys: dict[str, _LoadedKey] = {}
        self._verifier: TokenVerifier | None = None
        self._loaded_at = float("-inf")
        self._forced_reload_at = float("-inf")
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the key set, creating the first key if the database has none (once, whoever starts first)."""
        if not await self._store.signing_keys():
            now = int(self._clock())
            await self._store.add_signing_key(new_key(1, now=now, activates_at=now, passphrase=self._passphrase))
        await self._reload()

    async def rotate(self, *, activate_after_s: int = 0) -> KeyVersion:
        """Add the next key generation (signing from ``activate_after_s`` from now) and drop keys no token
        can need any more. Returns the new key's version."""
        for _ in range(ROTATION_ATTEMPTS):
            stored = await self._store.signing_keys()
            generation = max((key.generation for key in stored), default=0) + 1
            now = int(self._clock())
            key = new_key(generation, now=now, activates_at=now + activate_after_s, passphrase=self._passphrase)
            if await self._store.add_signing_key(key):
                break
        else:
            raise KeySetError("another rotation keeps winning the race; try again")
        versions = [_version(stored_key) for stored_key in await self._store.signing_keys()]
        kept = {version.kid for version in published_keys(versions, self._clock(), self._retire_after_s)}
        await self._store.remove_signing_keys(version.kid for version in versions if version.kid not in kept)
        await self._reload()
        return _version(key)

    async def jwks(self) -> dict[str, Any]:
        """The published public keys, read fresh from the store."""
        stored = await self._store.signing_keys()
        by_kid = {key.kid: key for key in stored}
        published = published_keys((_version(key) for key in stored), self._clock(), self._retire_after_s)
        return {"keys": [by_kid[version.kid].public_jwk for version in published]}

    async def issue(self, identities: Sequence[str]) -> str:
        """A session token owning ``identities`` (oldest first), signed with the current key."""
        await self._reload_if_stale(self._reload_interval_s)
        now = int(self._clock())
        current = signing_key((key.version for key in self._keys.values()), now)
        private_key = self._keys[current.kid].private_key
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject_of(identities),
            "ids": list(identities),
            "iat": now,
            "exp": now + self._token_ttl_s,
        }
        return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": current.kid})

    async def verify(self, token: str) -> Session:
        """Verify a token as any other service would from the JWKS; raises :class:`InvalidSession`."""
        await self._reload_if_stale(self._reload_interval_s)
        verifier = self._current_verifier()
        try:
            return verifier.verify(token)
        except UnknownSigningKey:
            # Maybe another replica rotated since this one last looked; made-up kids must not turn into a
            # database read each, so such reloads happen at most once per interval.
            now = self._clock()
            if now - self._forced_reload_at < self._unknown_key_reload_interval_s:
                raise
            self._forced_reload_at = now
            await self._reload()
            return self._current_verifier().verify(token)

    def _current_verifier(self) -> TokenVerifier:
        if self._verifier is None:
            raise InvalidSession("no keys loaded")
        return self._verifier

    async def _reload_if_stale(self, max_age_s: float) -> None:
        if self._clock() - self._loaded_at < max_age_s:
            return
        async with self._lock:
            if self._clock() - self._loaded_at < max_age_s:
                return
            await self._load()

    async def _reload(self) -> None:
        async with self._lock:
            await self._load()

    async def _load(self) -> None:
        stored = await self._store.signing_keys()
        if not stored:
            raise KeySetError("the key set is empty")
        loaded: dict[str, _LoadedKey] = {}
        for key in stored:
            previous = self._keys.get(key.kid)
            private_key = previous.private_key if previous is not None else self._private_key(key)
            loaded[key.kid] = _LoadedKey(_version(key), key.public_jwk, private_key)
        published = published_keys((key.version for key in loaded.values()), self._clock(), self._retire_after_s)
        jwks = {"keys": [loaded[version.kid].public_jwk for version in published]}
        self._keys = loaded
        self._verifier = TokenVerifier(
            jwks, issuer=self._issuer, audience=self._audience, leeway_s=LEEWAY_S, clock=self._clock
        )
        self._loaded_at = self._clock()

    def _private_key(self, key: StoredKey) -> ec.EllipticCurvePrivateKey:
        encrypted = key.private_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        if encrypted and not self._passphrase:
            raise KeySetError(f"signing key {key.kid} is encrypted: set ROBOSHOP_USER_KEY_PASSPHRASE")
        try:
            private_key = serialization.load_pem_private_key(
                key.private_pem, password=self._passphrase if encrypted else None
            )
        except ValueError as exc:
            raise KeySetError(f"signing key {key.kid} cannot be read: is the passphrase right?") from exc
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise KeySetError(f"signing key {key.kid} is not an EC key")
        return private_key


def _version(key: StoredKey) -> KeyVersion:
    return KeyVersion(key.generation, key.kid, key.activates_at)
