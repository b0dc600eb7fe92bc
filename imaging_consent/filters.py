"""smart_fhir ``RESOURCE_FILTERS`` hook: a token issued under a consent sees only its studies."""


def _consented_studies(access):
    studies = getattr(access, "_consented_studies", None)
    if studies is None:  # once per request: the access object lives as long as the request
        from .models import ImagingConsent

        consent = ImagingConsent.objects.filter(pk=access.claims.get("consent"), revoked__isnull=True).first()
        studies = frozenset(consent.studies) if consent else frozenset()
        access._consented_studies = studies
    return studies


def only_consented_studies(access, resource_type, resource):
    if access.claims.get("consent") is None or resource_type != "ImagingStudy":
        return True
    return resource.get("id") in _consented_studies(access)


def _search_clauses(access, resource_type):
    """The same rule as a search clause (``_id`` in the consented studies), so that the storage
    counts, pages and includes only consented studies: a search's ``total``, ``_summary=count``
    and ``next`` link never reveal that an unconsented study exists."""
    from smart_fhir.search import Clause
    from smart_fhir.search.query import SearchValueSpec

    if access.claims.get("consent") is None or resource_type != "ImagingStudy":
        return []
    ids = sorted(_consented_studies(access))
    return [Clause("_id", "id", "", tuple(SearchValueSpec(code=i) for i in ids))]


only_consented_studies.search_clauses = _search_clauses
