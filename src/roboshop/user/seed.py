"""Robot Shop's three users (``mongo/users.js``), inserted at start-up with hashed passwords.

Seeding is not registration: these passwords are shorter than registration allows today, and they are the
ones the original UI's examples and the load generator log in with. Only missing users are hashed and
inserted, so a restart costs no hashing, and replicas starting together insert each user once.
"""

from __future__ import annotations

import asyncio
import logging

from roboshop.user.domain import User, new_object_id
from roboshop.user.passwords import PasswordHasher
from roboshop.user.store import UserStore

log = logging.getLogger("roboshop.user.seed")

SEED_USERS: tuple[tuple[str, str, str], ...] = (
    # (name, password, email)
    ("user", "password", "user@me.com"),
    ("stan", "bigbrain", "stan@instana.com"),
    ("partner-57", "worktogether", "howdy@partner.com"),
)


async def seed_users(store: UserStore, hasher: PasswordHasher) -> list[str]:
    """Insert the seed users that are missing; returns the names inserted."""
    missing = [(name, password, email) for name, password, email in SEED_USERS if await store.user(name) is None]
    hashes = await asyncio.gather(*(hasher.hash(password) for _, password, _ in missing))
    inserted = [
        name
        for (name, _, email), password_hash in zip(missing, hashes, strict=True)
        if await store.add_user(User(new_object_id(), name, email, password_hash))
    ]
    if inserted:
        log.info("seed users inserted", extra={"users": inserted})
    return inserted
