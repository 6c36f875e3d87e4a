"""Where users, their order history, the anonymous counter and the signing keys live.

Ports: :class:`UserStore` and :class:`SigningKeyStore`. Adapters: :class:`SqlUserStore` and
:class:`SqlSigningKeyStore` (SQLAlchemy Core over SQLite, PostgreSQL or MariaDB; the schema is in the
migrations), and the in-memory fakes for unit tests. One contract suite runs against all of them
(``tests/integration/user/test_store_contract.py``).

Every write is a single atomic statement, safe with many replicas on one database: the counter is one row
incremented in place, an order is one inserted row (no read-modify-write of a history document), a new
user or key relies on a unique key rather than a check-then-insert.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roboshop.user.domain import Order, User

ANONYMOUS_COUNTER = "anonymous-counter"  # the Redis key Robot Shop counted in


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key as kept in the database: the private key as PKCS#8 PEM (maybe encrypted)."""

    generation: int
    kid: str
    private_pem: bytes = field(repr=False)
    public_jwk: dict[str, Any]
    created_at: int
    activates_at: int


class UserStore(Protocol):
    async def ping(self) -> None: ...

    async def next_anonymous_number(self) -> int:
        """The next number of the shop-wide anonymous counter: 1, 2, ...; never the same one twice."""
        ...

    async def user(self, name: str) -> User | None: ...

    async def user_by_object_id(self, object_id: str) -> User | None: ...

    async def add_user(self, user: User) -> bool:
        """Insert ``user``; ``False`` (and no change) if the name is taken."""
        ...

    async def replace_password_hash(self, name: str, password_hash: str) -> None: ...

    async def add_order(self, name: str, order: Order) -> bool:
        """Append ``order`` to the history of ``name``; ``False`` if there is no such user.

        Recording an order id that is already in the history changes nothing and is a success, so a
        retried call never lists an order twice.
        """
        ...

    async def history(self, name: str) -> list[Order]:
        """The orders of ``name``, oldest first (``[]`` for no orders or no such user)."""
        ...


class SigningKeyStore(Protocol):
    async def signing_keys(self) -> list[StoredKey]:
        """Every stored key, by generation."""
        ...

    async def add_signing_key(self, key: StoredKey) -> bool:
        """Insert ``key``; ``False`` (and no change) if its generation exists already (another replica won)."""
        ...

    async def remove_signing_keys(self, kids: Iterable[str]) -> None: ...


metadata = sa.MetaData()
users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("object_id", sa.String(24), nullable=False, unique=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
)
order_history = sa.Table(
    "order_history",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("orderid", sa.String(64), nullable=False),
    sa.Column("cart", sa.Text, nullable=False),
)
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("generation", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kid", sa.String(64), nullable=False, unique=True),
    sa.Column("private_key", sa.Text, nullable=False),
    sa.Column("public_jwk", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("activates_at", sa.BigInteger, nullable=False),
)


class SqlUserStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def next_anonymous_number(self) -> int:
        bump = counters.c.name == ANONYMOUS_COUNTER
        async with self._engine.begin() as conn:
            if conn.dialect.name == "mysql":
                # MariaDB has no UPDATE ... RETURNING; LAST_INSERT_ID(expr) keeps the new value for this
                # connection, so the read below sees this increment and no other.
                await conn.execute(
                    sa.update(counters).where(bump).values(value=sa.func.last_insert_id(counters.c.value + 1))
                )
                number = (await conn.execute(sa.select(sa.func.last_insert_id()))).scalar_one()
            else:
                number = (
                    await conn.execute(
                        sa.update(counters).where(bump).values(value=counters.c.value + 1).returning(counters.c.value)
                    )
                ).scalar_one()
        return int(number)

    async def user(self, name: str) -> User | None:
        return await self._user(users.c.name == name)

    async def user_by_object_id(self, object_id: str) -> User | None:
        return await self._user(users.c.object_id == object_id)

    async def add_user(self, user: User) -> bool:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(users).values(
                        name=user.name, object_id=user.object_id, email=user.email, password_hash=user.password_hash
                    )
                )
        except IntegrityError:
            return False
        return True

    async def replace_password_hash(self, name: str, password_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(sa.update(users).where(users.c.name == name).values(password_hash=password_hash))

    async def add_order(self, name: str, order: Order) -> bool:
        async with self._engine.begin() as conn:
            if await _user_row(conn, users.c.name == name) is None:
                return False
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(order_history).values(name=name, orderid=order.orderid, cart=_dump(order.cart))
                )
        except IntegrityError:
            # The unique (name, orderid) key: this order is recorded already (users are never deleted,
            # so the foreign key cannot be what failed).
            return True
        return True

    async def history(self, name: str) -> list[Order]:
        query = (
            sa.select(order_history.c.orderid, order_history.c.cart)
            .where(order_history.c.name == name)
            .order_by(order_history.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Order(row.orderid, orjson.loads(row.cart)) for row in rows]

    async def _user(self, condition: sa.ColumnElement[bool]) -> User | None:
        async with self._engine.connect() as conn:
            return await _user_row(conn, condition)


class SqlSigningKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def signing_keys(self) -> list[StoredKey]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(signing_keys).order_by(signing_keys.c.generation))).all()
        return [
            StoredKey(
                generation=row.generation,
                kid=row.kid,
                private_pem=row.private_key.encode("ascii"),
                public_jwk=orjson.loads(row.public_jwk),
                created_at=row.created_at,
                activates_at=row.activates_at,
            )
            for row in rows
        ]

    async def add_signing_key(self, key: StoredKey) -> bool:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(signing_keys).values(
                        generation=key.generation,
                        kid=key.kid,
                        private_key=key.private_pem.decode("ascii"),
                        public_jwk=_dump(key.public_jwk),
                        created_at=key.created_at,
                        activates_at=key.activates_at,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def remove_signing_keys(self, kids: Iterable[str]) -> None:
        doomed = list(kids)
        if not doomed:
            return
        async with self._engine.begin() as conn:
            await conn.execute(sa.delete(signing_keys).where(signing_keys.c.kid.in_(doomed)))


async def _user_row(conn: AsyncConnection, condition: sa.ColumnElement[bool]) -> User | None:
    row = (await conn.execute(sa.select(users).where(condition))).first()
    if row is None:
        return None
    return User(object_id=row.object_id, name=row.name, email=row.email, password_hash=row.password_hash)


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


class InMemoryUserStore:
    def __init__(self) -> None:
        self._counter = 0
        self._users: dict[str, User] = {}
        self._orders: dict[str, list[Order]] = {}

    async def ping(self) -> None:
        return None

    async def next_anonymous_number(self) -> int:
        self._counter += 1
        return self._counter

    async def user(self, name: str) -> User | None:
        return self._users.get(name)

    async def user_by_object_id(self, object_id: str) -> User | None:
        return next((user for user in self._users.values() if user.object_id == object_id), None)

    async def add_user(self, user: User) -> bool:
        taken = user.name in self._users or await self.user_by_object_id(user.object_id) is not None
        if taken:
            return False
        self._users[user.name] = user
        return True

    async def replace_password_hash(self, name: str, password_hash: str) -> None:
        user = self._users.get(name)
        if user is not None:
            self._users[name] = User(user.object_id, user.name, user.email, password_hash)

    async def add_order(self, name: str, order: Order) -> bool:
        if name not in self._users:
            return False
        orders = self._orders.setdefault(name, [])
        if all(recorded.orderid != order.orderid for recorded in orders):
            # Stored as the database would: a copy, not the caller's object.
            orders.append(Order(order.orderid, orjson.loads(orjson.dumps(order.cart))))
        return True

    async def history(self, name: str) -> list[Order]:
        return list(self._orders.get(name, []))


class InMemorySigningKeyStore:
    def __init__(self) -> None:
        self._keys: dict[int, StoredKey] = {}

    async def signing_keys(self) -> list[StoredKey]:
        return [self._keys[generation] for generation in sorted(self._keys)]

    async def add_signing_key(self, key: StoredKey) -> bool:
        if key.generation in self._keys or any(stored.kid == key.kid for stored in self._keys.values()):
            return False
        self._keys[key.generation] = key
        return True

    async def remove_signing_keys(self, kids: Iterable[str]) -> None:
        doomed = set(kids)
        self._keys = {generation: key for generation, key in self._keys.items() if key.kid not in doomed}
