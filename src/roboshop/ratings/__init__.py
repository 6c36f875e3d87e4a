"""The ratings service: shoppers' star ratings per product, kept as a running average.

settings   ``ROBOSHOP_RATINGS_*``
domain     scores, clamping and the running average
store      the RatingStore port, its SQL adapter (SQLite, PostgreSQL, MariaDB) and an in-memory fake
products   the ProductCatalogue port (does this SKU exist?), its adapter over the catalogue service, a fake
api        the Robot Shop compatible routes
app        the app factory
"""
