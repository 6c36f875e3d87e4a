"""The signing key set: first key, issuing, rotation without breaking sessions, encryption at rest."""

from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest

from roboshop.user.keys import KeySetError, SigningKeys, thumbprint
from roboshop.user.store import InMemorySigningKeyStore, StoredKey
from roboshop.user.tokens import TokenVerifier, UnknownSigningKey

from .support import FakeClock

TTL_S = 3600
GRACE_S = 300


def signing_keys(store: InMemorySigningKeyStore, clock: FakeClock, *, passphrase: bytes | None = None) -> SigningKeys:
    return SigningKeys(
        store,
        issuer="roboshop-user",
        audience="roboshop",
        token_ttl_s=TTL_S,
        grace_s=GRACE_S,
        passphrase=passphrase,
        reload_interval_s=30,
        clock=clock,
    )


@pytest.fixture
def store() -> InMemorySigningKeyStore:
    return InMemorySigningKeyStore()


@pytest.fixture
async def keys(store: InMemorySigningKeyStore, clock: FakeClock) -> SigningKeys:
    keys = signing_keys(store, clock)
    await keys.start()
    return keys


async def published_verifier(keys: SigningKeys, clock: FakeClock) -> TokenVerifier:
    """What the gateway does: verify from the JWKS alone."""
    return TokenVerifier(await keys.jwks(), clock=clock)


async def test_the_first_start_creates_one_key_and_later_starts_reuse_it(
    store: InMemorySigningKeyStore, keys: SigningKeys, clock: FakeClock
) -> None:
    replica = signing_keys(store, clock)
    await replica.start()
    assert len(await store.signing_keys()) == 1
    assert (await keys.jwks()) == (await replica.jwks())


async def test_a_token_carries_the_pinned_algorithm_its_kid_and_the_session_claims(
    keys: SigningKeys, clock: FakeClock
) -> None:
    token = await keys.issue(["anonymous-1", "user"])
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES256"
    assert header["kid"] == (await keys.jwks())["keys"][0]["kid"]
    assert claims == {
        "iss": "roboshop-user",
        "aud": "roboshop",
        "sub": "user",
        "ids": ["anonymous-1", "user"],
        "iat": int(clock.now),
        "exp": int(clock.now) + TTL_S,
    }
    assert (await published_verifier(keys, clock)).verify(token).identities == ("anonymous-1", "user")


async def test_the_jwks_holds_only_public_keys(keys: SigningKeys) -> None:
    (key,) = (await keys.jwks())["keys"]
    assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert key["use"] == "sig"


async def test_the_kid_is_the_rfc_7638_thumbprint_of_the_public_key(keys: SigningKeys) -> None:
    (key,) = (await keys.jwks())["keys"]
    canonical = json.dumps({m: key[m] for m in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert key["kid"] == expected == thumbprint(key)


async def test_a_token_signed_before_a_rotation_still_verifies_with_the_published_jwks(
    keys: SigningKeys, clock: FakeClock
) -> None:
    before = await keys.issue(["user"])
    old_kid = jwt.get_unverified_header(before)["kid"]
    clock.advance(60)
    new = await keys.rotate()
    after = await keys.issue(["user"])
    assert jwt.get_unverified_header(after)["kid"] == new.kid != old_kid
    verifier = await published_verifier(keys, clock)
    assert verifier.key_ids == {old_kid, new.kid}
    assert verifier.verify(before).subject == "user"
    assert verifier.verify(after).subject == "user"


async def test_an_old_key_leaves_the_jwks_once_its_tokens_have_expired(
    store: InMemorySigningKeyStore, keys: SigningKeys, clock: FakeClock
) -> None:
    old_kid = jwt.get_unverified_header(await keys.issue(["user"]))["kid"]
    new = await keys.rotate()
    clock.advance(TTL_S + GRACE_S - 1)
    assert {key["kid"] for key in (await keys.jwks())["keys"]} == {old_kid, new.kid}
    clock.advance(1)
    assert {key["kid"] for key in (await keys.jwks())["keys"]} == {new.kid}
    # The next rotation forgets it for good.
    newest = await keys.rotate()
    assert [key.kid for key in await store.signing_keys()] == [new.kid, newest.kid]


async def test_a_key_rotated_in_ahead_of_time_is_published_before_it_signs(keys: SigningKeys, clock: FakeClock) -> None:
    old_kid = jwt.get_unverified_header(await keys.issue(["user"]))["kid"]
    new = await keys.rotate(activate_after_s=120)
    assert new.kid in {key["kid"] for key in (await keys.jwks())["keys"]}
    assert jwt.get_unverified_header(await keys.issue(["user"]))["kid"] == old_kid
    clock.advance(120)
    assert jwt.get_unverified_header(await keys.issue(["user"]))["kid"] == new.kid


async def test_another_replica_signs_with_the_new_key_after_its_reload_interval(
    store: InMemorySigningKeyStore, keys: SigningKeys, clock: FakeClock
) -> None:
    replica = signing_keys(store, clock)
    await replica.start()
    new = await keys.rotate()
    clock.advance(29)
    assert jwt.get_unverified_header(await replica.issue(["user"]))["kid"] != new.kid
    clock.advance(1)
    assert jwt.get_unverified_header(await replica.issue(["user"]))["kid"] == new.kid


async def test_a_replica_accepts_a_token_of_a_key_rotated_in_elsewhere_at_once(
    store: InMemorySigningKeyStore, keys: SigningKeys, clock: FakeClock
) -> None:
    replica = signing_keys(store, clock)
    await replica.start()
    clock.advance(5)
    await keys.rotate()
    token = await keys.issue(["anonymous-9"])
    assert (await replica.verify(token)).subject == "anonymous-9"


async def test_a_replica_refuses_a_token_of_a_key_nobody_has(keys: SigningKeys, clock: FakeClock) -> None:
    stranger = signing_keys(InMemorySigningKeyStore(), clock)
    await stranger.start()
    clock.advance(5)
    with pytest.raises(UnknownSigningKey):
        await keys.verify(await stranger.issue(["user"]))


async def test_private_keys_are_encrypted_at_rest_with_the_passphrase(
    store: InMemorySigningKeyStore, clock: FakeClock
) -> None:
    keys = signing_keys(store, clock, passphrase=b"correct horse battery staple")
    await keys.start()
    (stored,) = await store.signing_keys()
    assert stored.private_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    token = await keys.issue(["user"])
    assert (await published_verifier(keys, clock)).verify(token).subject == "user"


async def test_encrypted_keys_without_the_right_passphrase_refuse_to_load(
    store: InMemorySigningKeyStore, clock: FakeClock
) -> None:
    await signing_keys(store, clock, passphrase=b"correct horse battery staple").start()
    with pytest.raises(KeySetError, match="ROBOSHOP_USER_KEY_PASSPHRASE"):
        await signing_keys(store, clock).start()
    with pytest.raises(KeySetError, match="passphrase"):
        await signing_keys(store, clock, passphrase=b"wrong").start()


async def test_keys_stored_before_a_passphrase_was_set_still_load(
    store: InMemorySigningKeyStore, clock: FakeClock
) -> None:
    await signing_keys(store, clock).start()
    keys = signing_keys(store, clock, passphrase=b"new secret")
    await keys.start()
    await keys.rotate()
    pems = [key.private_pem for key in await store.signing_keys()]
    assert pems[0].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pems[1].startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


async def test_tokens_with_made_up_kids_reload_the_keys_at_most_once_a_second(
    store: InMemorySigningKeyStore, keys: SigningKeys, clock: FakeClock
) -> None:
    stranger = signing_keys(InMemorySigningKeyStore(), clock)
    await stranger.start()
    forged = await stranger.issue(["user"])
    reads = 0
    list_keys = store.signing_keys

    async def counted() -> list[StoredKey]:
        nonlocal reads
        reads += 1
        return await list_keys()

    store.signing_keys = counted  # type: ignore[method-assign]
    for _ in range(10):
        with pytest.raises(UnknownSigningKey):
            await keys.verify(forged)
    assert reads == 1
    clock.advance(1)
    with pytest.raises(UnknownSigningKey):
        await keys.verify(forged)
    assert reads == 2
