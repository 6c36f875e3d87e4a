"""The RoboShop service registry: a Consul-style agent API, active HTTP health checks, Prometheus HTTP SD."""
