"""The API gateway: the only public entry. Serves the storefront and proxies ``/api/<service>/...``.

settings   ``GatewaySettings`` (``ROBOSHOP_GATEWAY_*``)
routing    the route table (YAML, validated) compiled into a matcher
exchange   one request through the gateway, the handler/policy seam, problem+json answers
auth       the session policy: JWT sessions verified against the user service's JWKS, identity ownership
proxy      forwarding a matched request to an instance found through discovery
storefront static files with SPA fallback
metrics    RED metrics per route template plus upstream metrics
app        the raw ASGI application: lifespan, dispatch, operational endpoints, access log
"""
