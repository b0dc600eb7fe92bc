"""``manage.py smart_user``: a user's fhirUser, as the README's step 6 sets it."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from smart_auth.models import SmartUser


pytestmark = pytest.mark.django_db


def test_sets_replaces_and_clears_the_fhir_user():
    user = get_user_model().objects.create_user("admin", password="x")
    call_command("smart_user", "admin", "Practitioner/123", stdout=io.StringIO())
    assert SmartUser.objects.get(user=user).fhir_user == "Practitioner/123"
    call_command("smart_user", "admin", "Patient/p1", stdout=io.StringIO())
    assert SmartUser.objects.get(user=user).fhir_user == "Patient/p1"
    call_command("smart_user", "admin", "--clear", stdout=io.StringIO())
    assert not SmartUser.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "reference", ["practitioner/1", "Practitioner", "https://ehr.example/fhir/Patient/1", ""]
)
def test_refuses_what_is_not_a_relative_reference(reference):
    get_user_model().objects.create_user("admin", password="x")
    with pytest.raises(CommandError, match="relative reference"):
        call_command("smart_user", "admin", reference)


def test_unknown_user():
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("smart_user", "nobody", "Practitioner/1")
