"""``python -m roboshop.ratings``: serve the ratings service."""

from __future__ import annotations

from roboshop.kit.runner import run
from roboshop.ratings.app import create_app
from roboshop.ratings.settings import RatingsSettings


def main() -> None:
    run(RatingsSettings(), create_app)


if __name__ == "__main__":
    main()
