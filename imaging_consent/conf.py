"""``IMAGING_CONSENT`` settings (documented in docs/imaging_consent.md)."""

from smart_auth.appsettings import AppSettings


DEFAULTS = {
    # Scopes the imaging server asks the EHR for, silently (prompt=none), to read the patient
    # and the imaging studies the user may see.
    "EHR_SCOPE": "openid fhirUser profile launch/patient patient/Patient.rs patient/ImagingStudy.rs",
    # Identifier system that names a study on both servers (Study Instance UID).
    "STUDY_IDENTIFIER_SYSTEM": "urn:dicom:uid",
    "ACCESSION_SYSTEM": "http://hospital.example/accession",
    # Skip the consent screen when the same user already consented to the same studies and
    # scopes for the same app and patient.
    "REMEMBER_CONSENT": True,
    "CONSENT_TEMPLATE": "imaging_consent/authorize.html",
}

consent_settings = AppSettings("IMAGING_CONSENT", DEFAULTS)
