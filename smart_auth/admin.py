from django.contrib import admin

from .models import AuditEvent, LaunchContext, SmartUser


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created", "action", "outcome", "client_id", "user", "patient", "scope")
    list_filter = ("outcome", "action")
    search_fields = ("client_id", "user", "patient", "detail")
    date_hierarchy = "created"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SmartUser)
class SmartUserAdmin(admin.ModelAdmin):
    list_display = ("user", "fhir_user")
    search_fields = ("user__username", "fhir_user")


@admin.register(LaunchContext)
class LaunchContextAdmin(admin.ModelAdmin):
    list_display = ("created", "application", "user", "patient", "encounter", "used", "expires")
    readonly_fields = ("handle",)
