"""SMART App Launch 2.2 authorization server on django-oauth-toolkit."""
