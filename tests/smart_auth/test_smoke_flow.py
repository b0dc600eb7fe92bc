import jwt

from smart_auth.launch import create_launch


def test_ehr_launch_end_to_end(flow, users, public_client):
    launch = create_launch(public_client, user=users["clinician"], patient="pat-1", encounter="enc-1")
    response = flow.run(
        "launch openid fhirUser patient/*.rs offline_access", users["clinician"], launch=launch.handle
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["patient"] == "pat-1"
    assert body["encounter"] == "enc-1"
    assert body["refresh_token"]
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["fhirUser"] == "Practitioner/prac-1"
    access = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["aud"] == "http://testserver/fhir"
    assert access["patient"] == "pat-1"
