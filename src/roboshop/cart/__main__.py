"""``python -m roboshop.cart``: serve the cart service."""

from __future__ import annotations

from roboshop.cart.app import create_app
from roboshop.cart.settings import CartSettings
from roboshop.kit.runner import run


def main() -> None:
    run(CartSettings(), create_app)


if __name__ == "__main__":
    main()
