"""``python -m roboshop.catalogue``: serve the catalogue."""

from __future__ import annotations

from roboshop.catalogue.app import create_app
from roboshop.catalogue.settings import CatalogueSettings
from roboshop.kit.runner import run


def main() -> None:
    run(CatalogueSettings(), create_app)


if __name__ == "__main__":
    main()
