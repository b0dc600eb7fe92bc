"""SMART App Launch 2.2 authorization server on django-oauth-toolkit."""

__version__ = "0.1.0"
