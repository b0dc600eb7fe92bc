"""Consent records: who granted which app access to which imaging studies, and when."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings


class ImagingConsent(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="imaging_consents"
    )
    application = models.ForeignKey(oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE)
    patient = models.CharField(_("patient (this server's id)"), max_length=64, blank=True)
    ehr_patient = models.CharField(_("patient at the EHR"), max_length=255, blank=True)
    studies = models.JSONField(_("imaging studies (this server's ids)"), default=list, blank=True)
    study_labels = models.JSONField(default=list, blank=True)
    scope = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("imaging consent")

    def __str__(self):
        return f"{self.user} → {self.application} ({len(self.studies)} studies)"

    @property
    def active(self):
        return self.revoked is None

    def revoke(self):
        """Revoke the consent and every token issued under it, at once."""
        from oauth2_provider.models import get_access_token_model, get_refresh_token_model

        from smart_auth.models import TokenContext

        self.revoked = timezone.now()
        self.save(update_fields=["revoked"])
        contexts = TokenContext.objects.filter(context__consent=self.pk)
        families = [f for f in contexts.values_list("token_family", flat=True) if f]
        for family in set(families):
            get_refresh_token_model().revoke_family(family)
        for token in get_access_token_model().objects.filter(smart__in=contexts):
            token.revoke()
