"""The service kit: what every RoboShop process is built from.

settings   typed configuration per service (``ROBOSHOP_<SERVICE>_*``)
app        the app factory: request ids, JSON access logs, RED metrics, problem+json, /health /ready /metrics
runner     the process lifecycle: serve, register, drain on SIGTERM, deregister, exit 0
db         async engines and migrations (SQLite, PostgreSQL, MariaDB)
discovery  finding peer instances (registry, or static/DNS names)
peer       the HTTP client services use to call each other
"""
