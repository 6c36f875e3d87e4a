"""``python -m roboshop.registry``: serve the registry (default port 8500)."""

from roboshop.kit.runner import run
from roboshop.registry.app import create_app
from roboshop.registry.settings import RegistrySettings

if __name__ == "__main__":
    run(RegistrySettings(), create_app, check_path="/health")
