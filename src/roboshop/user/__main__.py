"""``python -m roboshop.user``: serve the user service.

``python -m roboshop.user rotate-keys [--activate-after SECONDS]`` adds the next signing key to the database
the settings name and exits: every replica signs with it from its activation on, and the previous key stays
published until the tokens it signed have expired.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from roboshop.kit.runner import run
from roboshop.user.app import create_app, open_database, signing_keys_for
from roboshop.user.settings import UserSettings
from roboshop.user.store import SqlSigningKeyStore


async def rotate_keys(settings: UserSettings, activate_after_s: int) -> str:
    """Rotate the signing keys; returns what was done, for the operator."""
    engine = await open_database(settings)
    try:
        keys = signing_keys_for(settings, SqlSigningKeyStore(engine))
        await keys.start()
        version = await keys.rotate(activate_after_s=activate_after_s)
    finally:
        await engine.dispose()
    return f"signing key {version.kid} (generation {version.generation}) signs from {version.activates_at} (unix time)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m roboshop.user", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the user service (the default)")
    rotate = commands.add_parser("rotate-keys", help="add the next signing key and exit")
    rotate.add_argument(
        "--activate-after",
        type=int,
        default=0,
        metavar="SECONDS",
        help="publish the key now, sign with it after this many seconds (default: at once)",
    )
    args = parser.parse_args(argv)
    settings = UserSettings()
    if args.command == "rotate-keys":
        if args.activate_after < 0:
            parser.error("--activate-after must be 0 or more")
        print(asyncio.run(rotate_keys(settings, args.activate_after)))
        return
    run(settings, create_app)


if __name__ == "__main__":
    main(sys.argv[1:])
