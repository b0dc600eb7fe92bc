from django.contrib import admin

from .models import Subscription, Topic


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    fields = ("subscriber_name", "client_id", "events", "lease_expires", "active")
    readonly_fields = fields
    can_delete = False


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "workstation", "sequence", "updated")
    search_fields = ("user__username", "workstation")
    readonly_fields = ("name", "state", "sequence", "created", "updated")
    inlines = [SubscriptionInline]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("subscriber_name", "client_id", "username", "topic", "lease_expires", "active")
    list_filter = ("active",)
    search_fields = ("subscriber_name", "client_id", "username")
    readonly_fields = ("endpoint", "created")
