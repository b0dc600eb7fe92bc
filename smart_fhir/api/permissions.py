"""DRF permission: SMART scopes, patient context and RESOURCE_FILTERS (see enforcement.py)."""

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission

from ..access import TokenAccess
from ..enforcement import AccessDenied, check_entry, grants_for


class SmartScopePermission(BasePermission):
    """The view's interaction must be granted for its type; objects are checked one by one."""

    def has_permission(self, request, view):
        if not isinstance(request.auth, TokenAccess):
            raise NotAuthenticated("An access token is required")
        interaction = view.interaction
        if interaction is None:
            return True
        if not grants_for(request.auth, interaction, view.kwargs["resource_type"]):
            raise AccessDenied(f"The token grants no {interaction} access to {view.kwargs['resource_type']}")
        return True

    def has_object_permission(self, request, view, obj):
        check_entry(request.auth, view.interaction, obj)
        return True
