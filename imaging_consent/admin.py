from django.contrib import admin

from .models import ImagingConsent


@admin.register(ImagingConsent)
class ImagingConsentAdmin(admin.ModelAdmin):
    list_display = ("created", "user", "application", "patient", "scope", "revoked")
    list_filter = ("revoked",)
    search_fields = ("user__username", "patient", "ehr_patient")
    readonly_fields = [f.name for f in ImagingConsent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
