"""A FHIRcast 3.0 hub on Django Channels, authorized through smart_auth."""

__version__ = "0.1.0"
