"""The API gateway: the only public entry. Serves the storefront and proxies ``/api/<service>/...``.

settings   ``GatewaySettings`` (``ROBOSHOP_GATEWAY_*``)
routing    the route table (YAML, validated) compiled into a matcher
exchange   one request through the gateway, the handler/policy seam, problem+json answers
auth       the session policy: JWT sessions verified against the user service's JWKS, identity ownership
consumers  API consumers (X-API-Key, stored as SHA-256) and the ``auth: api_key`` policy
ratelimit  rate limits per client address, consumer and route (``limits``; memory or Redis), 429 + headers
edge       per-route CORS and response headers
balancer   round robin / least outstanding, outlier ejection, a breaker per service, the retry budget
proxy      forwarding a matched request to an instance chosen by the balancer (retries, deadline header)
aggregate  GET /api/products/{sku}/details: catalogue and ratings asked concurrently, partial answers
faults     fault injection per upstream (latency, errors), set through the admin API
admin      the admin API on its own listener (127.0.0.1, admin key): routes, upstreams, reload, faults, metrics
reload     hot reload of the route table on SIGHUP or a changed file
storefront static files with SPA fallback
metrics    RED metrics per route template plus upstream metrics
app        the raw ASGI application: lifespan, dispatch, operational endpoints, access log
"""
