"""The rules of the user service, without I/O.

* What a new user's name, email and password may look like (registration only: the seed users' passwords
  are shorter than today's minimum, and login never judges a password's shape).
* Which identities a session owns after it gains one more, and which of them is its subject.
* Which signing key signs now, and which keys stay published for tokens already out there.
* Robot Shop's plain-text messages (Decision Q3 keeps them, typos included).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

NOT_SUPPLIED = "name or passowrd not supplied"  # [sic]
NAME_NOT_FOUND = "name not found"
INCORRECT_PASSWORD = "incorrect password"  # noqa: S105 (a message, not a password)
INSUFFICIENT_DATA = "insufficient data"
NAME_EXISTS = "name already exists"
USER_NOT_FOUND = "user not found"
HISTORY_NOT_FOUND = "history not found"

ANONYMOUS_PREFIX = "anonymous-"
MAX_NAME_LENGTH = 64
MAX_EMAIL_LENGTH = 254
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MAX_ORDER_ID_LENGTH = 64
MAX_IDENTITIES = 16

_NAME = re.compile(r"[A-Za-z0-9._-]+")
# Plausible, not RFC 5322: one @, no spaces, a dot in the domain, no empty labels. Delivery is the only proof.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+")


@dataclass(frozen=True, slots=True)
class User:
    object_id: str
    name: str
    email: str
    password_hash: str = field(repr=False)

    def to_wire(self) -> dict[str, str]:
        """Robot Shop's user document without the password (Decision Q6): never add the hash here."""
        return {"_id": self.object_id, "name": self.name, "email": self.email}


@dataclass(frozen=True, slots=True)
class Order:
    orderid: str
    cart: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {"orderid": self.orderid, "cart": self.cart}


def new_object_id() -> str:
    """24 hex digits, the shape of the Mongo ``_id`` Robot Shop clients see."""
    return secrets.token_hex(12)


def anonymous_id(number: int) -> str:
    return f"{ANONYMOUS_PREFIX}{number}"


def may_be_a_name(text: str) -> bool:
    """Whether a user could be called ``text``: others are not looked up (PostgreSQL refuses a NUL, for one)."""
    return 1 <= len(text) <= MAX_NAME_LENGTH and _NAME.fullmatch(text) is not None


def registration_problem(name: str, email: str, password: str) -> str | None:
    """Why these details cannot make a new user (``None``: they can). The texts are shown to shoppers."""
    if not may_be_a_name(name):
        return f"name must be 1 to {MAX_NAME_LENGTH} letters, digits, dots, dashes or underscores"
    if name.lower().startswith(ANONYMOUS_PREFIX):
        # Anonymous ids name carts; a user called anonymous-7 would own a stranger's cart.
        return f"names starting with '{ANONYMOUS_PREFIX}' are reserved"
    if len(email) > MAX_EMAIL_LENGTH or not email.isprintable() or not _EMAIL.fullmatch(email):
        return f"email must be a valid address of at most {MAX_EMAIL_LENGTH} characters"
    if not (MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH):
        return f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
    if not _encodable(password):
        return "password must be valid text"
    return None


def new_order(orderid: object, cart: object) -> Order:
    """An order for the history from the fields payment sends; ``ValueError`` says what is wrong."""
    if not isinstance(orderid, str) or not (1 <= len(orderid) <= MAX_ORDER_ID_LENGTH) or not orderid.isprintable():
        raise ValueError(f"orderid must be a string of 1 to {MAX_ORDER_ID_LENGTH} printable characters")
    if not isinstance(cart, dict):
        raise ValueError("cart must be an object")
    return Order(orderid, cart)


def identities_after(owned: Sequence[str], gained: str) -> tuple[str, ...]:
    """The identities a session owns once it gains ``gained``, oldest first.

    The list is capped so a client calling ``/uniqueid`` in a loop cannot grow its cookie without end: the
    oldest anonymous ids go first, user names only when nothing else is left.
    """
    identities = [identity for identity in owned if identity != gained]
    identities.append(gained)
    while len(identities) > MAX_IDENTITIES:
        anonymous = next((i for i in identities if is_anonymous(i)), None)
        identities.remove(anonymous if anonymous is not None else identities[0])
    return tuple(identities)


def subject_of(identities: Sequence[str]) -> str:
    """The primary identity: the newest user name, or the newest anonymous id if there is none."""
    if not identities:
        raise ValueError("a session owns at least one identity")
    names = [identity for identity in identities if not is_anonymous(identity)]
    return names[-1] if names else identities[-1]


def is_anonymous(identity: str) -> bool:
    return identity.startswith(ANONYMOUS_PREFIX)


@dataclass(frozen=True, slots=True)
class KeyVersion:
    """A signing key as the rotation rules see it (no key material)."""

    generation: int
    kid: str
    activates_at: int


def signing_key(keys: Iterable[KeyVersion], now: float) -> KeyVersion:
    """The key that signs new tokens: the newest generation already active."""
    versions = list(keys)
    if not versions:
        raise ValueError("there is no signing key")
    active = [key for key in versions if key.activates_at <= now]
    if not active:
        return min(versions, key=lambda key: key.generation)
    return max(active, key=lambda key: key.generation)


def published_keys(keys: Iterable[KeyVersion], now: float, retire_after_s: float) -> list[KeyVersion]:
    """The keys a JWKS lists: every key not yet superseded (including ones that activate later, so
    verifiers learn them first), and superseded keys until ``retire_after_s`` after their successor took
    over (the last tokens they signed have expired by then). Ordered by generation."""
    versions = sorted(keys, key=lambda key: key.generation)
    active = [key for key in versions if key.activates_at <= now]
    published: list[KeyVersion] = []
    for key in versions:
        takeovers = [later.activates_at for later in active if later.generation > key.generation]
        if not takeovers or now < min(takeovers) + retire_after_s:
            published.append(key)
    return published


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
