"""What a distribution carries (issue 14): a licence, a version per app, project URLs."""

import tomllib

import fhircast_hub
import imaging_consent
import smart_auth
import smart_fhir

from .readme import ROOT


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_app_has_the_distributions_version():
    versions = {
        app.__name__: app.__version__ for app in (smart_auth, smart_fhir, imaging_consent, fhircast_hub)
    }
    assert set(versions.values()) == {PYPROJECT["version"]}, versions


def test_licence_file_matches_the_declared_licence():
    assert PYPROJECT["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "LICENSE" in PYPROJECT["license-files"]


def test_project_urls():
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(PYPROJECT["urls"])
