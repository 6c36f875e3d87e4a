"""The catalogue service: the shop's products, their categories and text search.

settings   ``ROBOSHOP_CATALOGUE_*`` (and the original's ``GO_SLOW``)
domain     products, the search rules (tokens, stemming, stop words), what a SKU or category may look like
seed       the eleven Robot Shop products, inserted by migration 0002
store      the ProductStore port, its SQL adapter (SQLite, PostgreSQL, MariaDB) and an in-memory fake
api        the Robot Shop compatible routes
app        the app factory
"""
