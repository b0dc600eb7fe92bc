"""The DOT Application admin with SMART metadata inline (named by ``APPLICATION_ADMIN_CLASS``).

Kept outside ``admin.py``: importing DOT's admin from there is circular when smart_auth precedes
oauth2_provider in INSTALLED_APPS.
"""

from django.contrib import admin, messages
from oauth2_provider.admin import ApplicationAdmin

from .models import SmartClient


class SmartClientInline(admin.StackedInline):
    model = SmartClient
    can_delete = False
    extra = 1
    max_num = 1
    fields = (
        "enabled",
        "token_endpoint_auth_method",
        "grant_types",
        "launch_uri",
        "logo_uri",
        "software_id",
        "jwks_uri",
        "jwks",
        "allowed_scopes",
        "allowed_audiences",
    )


class SmartApplicationAdmin(ApplicationAdmin):
    inlines = [SmartClientInline]
    list_display = ("name", "client_id", "client_type", "authorization_grant_type", "skip_authorization")

    def save_model(self, request, obj, form, change):
        plaintext = obj.client_secret if "client_secret" in form.changed_data or not change else None
        super().save_model(request, obj, form, change)
        if plaintext and obj.client_type == obj.CLIENT_CONFIDENTIAL:
            messages.warning(
                request,
                f"Client secret for {obj.client_id} (shown once, stored hashed): {plaintext}",
            )
