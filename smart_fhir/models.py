"""The default storage backend's tables: current resources, their versions, and search values.

Resources are kept as the JSON text that is served (``meta`` included), so a read returns the
stored bytes without decoding and re-encoding them. ``compartment`` is the id of the Patient whose
compartment the resource belongs to (its own id for a Patient), so that patient-scoped access is
one indexed comparison.
"""

from django.db import models


class StoredResource(models.Model):
    resource_type = models.CharField(max_length=64)
    logical_id = models.CharField(max_length=64)
    version_id = models.PositiveIntegerField(default=1)
    last_updated = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    compartment = models.CharField(max_length=64, blank=True, default="")
    text = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "logical_id"], name="smart_fhir_resource_type_id"
            )
        ]
        indexes = [
            models.Index(fields=["resource_type", "last_updated"], name="smart_fhir_type_updated"),
            models.Index(fields=["resource_type", "compartment"], name="smart_fhir_type_compartment"),
        ]

    def __str__(self):
        return f"{self.resource_type}/{self.logical_id}"


class ResourceVersion(models.Model):
    resource_type = models.CharField(max_length=64)
    logical_id = models.CharField(max_length=64)
    version_id = models.PositiveIntegerField()
    last_updated = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    # The Patient compartment of this version (a deletion keeps the last one), so type-level
    # history is confined per version, not by where the resource is now.
    compartment = models.CharField(max_length=64, blank=True, default="")
    text = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "logical_id", "version_id"], name="smart_fhir_version_unique"
            )
        ]
        indexes = [
            models.Index(fields=["resource_type", "last_updated"], name="smart_fhir_version_updated"),
        ]

    def __str__(self):
        return f"{self.resource_type}/{self.logical_id}/_history/{self.version_id}"


class SearchValue(models.Model):
    """One indexed value of one search parameter of a current resource.

    ``value`` is the token code, the reference (``Patient/123``) or the normalised (lower-case,
    accent-free) string, ``exact`` the string as written (for ``:exact``); dates are kept as the
    half-open instant range [date_low, date_high).
    """

    resource = models.ForeignKey(StoredResource, on_delete=models.CASCADE, related_name="search_values")
    resource_type = models.CharField(max_length=64)
    param = models.CharField(max_length=64)
    system = models.CharField(max_length=255, blank=True, default="")
    value = models.CharField(max_length=255, blank=True, default="")
    exact = models.CharField(max_length=255, blank=True, default="")
    date_low = models.DateTimeField(null=True, blank=True)
    date_high = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["resource_type", "param", "value"], name="smart_fhir_sv_value"),
            models.Index(fields=["resource_type", "param", "date_low"], name="smart_fhir_sv_date"),
            models.Index(fields=["resource", "param"], name="smart_fhir_sv_resource"),
        ]

    def __str__(self):
        return f"{self.resource_type}.{self.param}={self.system}|{self.value}"
