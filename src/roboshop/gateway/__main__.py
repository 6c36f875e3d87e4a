"""``python -m roboshop.gateway``: the public entry of the shop (default port 8080)."""

from roboshop.gateway.app import create_app
from roboshop.gateway.settings import GatewaySettings
from roboshop.kit.runner import run


def main() -> None:
    # The gateway builds X-Forwarded-* itself from the real peer; uvicorn must not take them from the client.
    run(GatewaySettings(), create_app, proxy_headers=False)


if __name__ == "__main__":
    main()
