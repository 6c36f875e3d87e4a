"""RoboShop: Stan's Robot Shop as Python microservices, with the infrastructure around them."""

__version__ = "0.1.0"
