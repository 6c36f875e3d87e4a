"""Service credentials for internal routes (cart ``DELETE``, user ``/check`` and ``/order``, ...).

The gateway never routes internal routes; this closes the other door, a caller reaching a service's own port.
Every service of one deployment shares one internal token (``ROBOSHOP_<SERVICE>_INTERNAL_TOKEN``; ``roboshop up``
makes a fresh one per run, Compose and Kubernetes take it from a secret). The kit's peer client sends it on every
call in the ``X-RoboShop-Internal-Token`` header, and a route that declares :data:`InternalCaller` refuses a call
without it (401). With no token configured (a developer running one service by hand) internal routes are open, and
the service says so at start-up; with ``environment=production`` a missing token stops the service from starting.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from roboshop.kit.errors import RoboShopError

INTERNAL_TOKEN_HEADER = "X-RoboShop-Internal-Token"  # noqa: S105 - a header name, not a secret


class NotAnInternalCaller(RoboShopError):
    status = 401
    title = "Unauthorized"


def require_internal_caller(request: Request) -> None:
    """Let the call through only with this deployment's internal token (or when none is configured)."""
    expected: str | None = request.app.state.internal_token
    if expected is None:
        return
    presented = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise NotAnInternalCaller(
            f"{request.url.path} is an internal route: call it from a RoboShop service (with its service credential)"
        )


InternalCaller = Annotated[None, Depends(require_internal_caller)]
