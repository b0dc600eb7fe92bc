from django.contrib import admin

from .models import StoredResource


@admin.register(StoredResource)
class StoredResourceAdmin(admin.ModelAdmin):
    list_display = ("resource_type", "logical_id", "version_id", "last_updated", "deleted", "compartment")
    list_filter = ("resource_type", "deleted")
    search_fields = ("logical_id", "compartment")
    readonly_fields = (
        "resource_type",
        "logical_id",
        "version_id",
        "last_updated",
        "deleted",
        "compartment",
        "text",
    )
