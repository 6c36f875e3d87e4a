"""The kit's error hierarchy, mapped to HTTP status in one place (:mod:`roboshop.kit.app`).

    RoboShopError
     +-- NotFound            404
     +-- BadRequest          400
     +-- Conflict            409
     +-- PayloadTooLarge     413
     +-- DependencyError     503  (our own dependency is down)
     +-- PeerError           502  (a peer service failed or answered badly)
          +-- PeerUnavailable    503  (no instance of the peer is known)
          +-- PeerTimeout        504

Robot Shop compatible routes answer with the original's plain-text bodies; an error raised with
``text=True`` keeps that shape, every other error becomes ``application/problem+json`` (RFC 9457).
"""

from __future__ import annotations


class RoboShopError(Exception):
    status: int = 500
    title: str = "Internal Server Error"

    def __init__(self, detail: str, *, text: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.text = text


class NotFound(RoboShopError):
    status = 404
    title = "Not Found"


class BadRequest(RoboShopError):
    status = 400
    title = "Bad Request"


class Conflict(RoboShopError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(RoboShopError):
    status = 413
    title = "Payload Too Large"


class UnsupportedMediaType(RoboShopError):
    status = 415
    title = "Unsupported Media Type"


class InternalError(RoboShopError):
    status = 500
    title = "Internal Server Error"


class InsufficientStorage(RoboShopError):
    status = 507
    title = "Insufficient Storage"


class DependencyError(RoboShopError):
    status = 503
    title = "Dependency Unavailable"


class PeerError(RoboShopError):
    status = 502
    title = "Bad Gateway"


class PeerUnavailable(PeerError):
    status = 503
    title = "Service Unavailable"


class PeerTimeout(PeerError):
    status = 504
    title = "Gateway Timeout"
