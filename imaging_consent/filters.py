"""smart_fhir ``RESOURCE_FILTERS`` hook: a token issued under a consent sees only its studies."""


def only_consented_studies(access, resource_type, resource):
    consent_id = access.claims.get("consent")
    if consent_id is None or resource_type != "ImagingStudy":
        return True
    studies = getattr(access, "_consented_studies", None)
    if studies is None:  # once per request: the access object lives as long as the request
        from .models import ImagingConsent

        consent = ImagingConsent.objects.filter(pk=consent_id, revoked__isnull=True).first()
        studies = frozenset(consent.studies) if consent else frozenset()
        access._consented_studies = studies
    return resource.get("id") in studies
