"""``python -m roboshop.shipping``: serve shipping."""

from __future__ import annotations

from roboshop.kit.runner import run
from roboshop.shipping.app import create_app
from roboshop.shipping.settings import ShippingSettings


def main() -> None:
    run(ShippingSettings(), create_app)


if __name__ == "__main__":
    main()
