"""The user service: identities, passwords, sessions and order history.

settings   ``ROBOSHOP_USER_*``
domain     what a name, an email and a password may look like; who a session is; which signing key is current
passwords  argon2id hashing off the event loop, with equal work for unknown names
tokens     verifying session tokens against a JWKS (no web framework: the gateway reuses it)
keys       the signing key set: created on first start, rotated, published as JWKS, used to issue tokens
seed       Robot Shop's three users, hashed and inserted at start-up
store      the UserStore and SigningKeyStore ports, their SQL adapters (SQLite, PostgreSQL, MariaDB) and fakes
api        the Robot Shop compatible routes, the internal routes and the JWKS
app        the app factory
"""
