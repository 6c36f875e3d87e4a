"""The cart service: shoppers' carts with tax-inclusive totals, kept for an hour after their last change.

settings   ``ROBOSHOP_CART_*``
domain     carts, lines, shipping, totals and tax, parseInt quantities, the wire form
store      the CartStore port: Redis, SQLite and an in-memory fake
api        the Robot Shop compatible routes
app        the app factory
"""
