"""The docs tell the truth about the settings and checks (issue 14): every key of each app's
``conf.DEFAULTS`` is in its docs page's settings table and nothing else is; every system-check id
the code can raise is documented; every relative link of the README and docs/ resolves."""

import importlib
import re

import pytest

from .readme import ROOT


APPS = {
    "smart_auth": ("SMART_AUTH", "docs/smart_auth.md"),
    "smart_fhir": ("SMART_FHIR", "docs/smart_fhir.md"),
    "fhircast_hub": ("FHIRCAST_HUB", "docs/fhircast_hub.md"),
    "imaging_consent": ("IMAGING_CONSENT", "docs/imaging_consent.md"),
}


def settings_table_keys(page, name):
    text = (ROOT / page).read_text()
    start = text.index(f"## Settings (`{name}`)")
    end = text.find("\n## ", start + 1)
    keys = set()
    for line in text[start:end].splitlines():
        if line.startswith("| `"):
            first_cell = line.split(" | ", 1)[0]
            keys |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return keys


@pytest.mark.parametrize("app", sorted(APPS))
def test_every_setting_is_documented_and_every_documented_setting_exists(app):
    name, page = APPS[app]
    defaults = set(importlib.import_module(f"{app}.conf").DEFAULTS)
    documented = settings_table_keys(page, name)
    assert sorted(defaults - documented) == [], f"undocumented {name} keys (add them to {page})"
    assert sorted(documented - defaults) == [], f"{page} documents {name} keys that do not exist"


@pytest.mark.parametrize("app", sorted(APPS))
def test_every_check_id_is_documented(app):
    _, page = APPS[app]
    raised = set()
    for path in (ROOT / app).rglob("*.py"):
        raised |= set(re.findall(rf"\b({app}\.[EW]\d{{3}})\b", path.read_text()))
    documented = (ROOT / page).read_text()
    missing = {i for i in raised if i not in documented and i.split(".", 1)[1] not in documented}
    assert sorted(missing) == [], f"check ids missing from {page}"


def test_relative_links_resolve():
    broken = []
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).resolve().exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
            elif not (page.parent / target).resolve().is_relative_to(ROOT):
                broken.append(f"{page.relative_to(ROOT)} -> {target} (outside the repository)")
    assert broken == []


def test_no_doc_points_outside_the_repository():
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        assert "shared/reference/" not in page.read_text(), page
