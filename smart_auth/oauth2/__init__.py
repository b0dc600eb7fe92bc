"""Everything plugged into django-oauth-toolkit and oauthlib (named by import strings)."""
