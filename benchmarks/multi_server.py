"""Wall time and HTTP round trips of each multi-server mechanism, from discovery to the first FHIR
read on both servers, next to a plain single-server SMART launch measured in the same run.

Starts the sandbox's EHR and imaging deployments (own processes, SQLite databases, keys) on free
127.0.0.1 ports; the browser steps (login, picker, consent) are driven by a script through the
same HTML forms a person uses. Run: ``.venv/bin/python benchmarks/multi_server.py [--runs 5]``.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox_project.scripted import App, Browser, Deployments  # noqa: E402


ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def ok(response):
    if response.status_code != 200:
        raise RuntimeError(f"{response.url}: {response.status_code} {response.text[:200]}")


def launch_at_ehr(live, app, browser, scope, patient="pat-2", **extra):
    query = browser.ehr_launch(live.urls["ehr"], app.client_id, patient, stop_at=live.urls["app"])
    url, _ = app.authorize_url(query["iss"], scope, "ehr", launch=query["launch"], **extra)
    return app.finish(browser.visit(url, f"{live.urls['app']}/callback/ehr"))


def single_server(live, app, browser):
    token = launch_at_ehr(live, app, browser, "launch openid fhirUser patient/*.rs")
    ok(app.read(f"{live.fhir('ehr')}/Patient/{token['patient']}", token["access_token"]))


def shared_token(live, app, browser):
    token = launch_at_ehr(live, app, browser, "launch openid fhirUser patient/*.rs",
                          resources=[live.fhir("ehr"), live.fhir("imaging")])
    ids = {d["locations"][0]: d["patient"] for d in token["authorization_details"]}
    ok(app.read(f"{live.fhir('ehr')}/Patient/{ids[live.fhir('ehr')]}", token["access_token"]))
    ok(app.read(f"{live.fhir('imaging')}/Patient/{ids[live.fhir('imaging')]}", token["access_token"]))


def launch_token(live, app, browser):
    ehr = launch_at_ehr(live, app, browser, "launch launch-token openid fhirUser patient/*.rs")
    ok(app.read(f"{live.fhir('ehr')}/Patient/{ehr['patient']}", ehr["access_token"]))
    url, _ = app.authorize_url(live.fhir("imaging"), "launch openid fhirUser patient/*.rs", "imaging",
                               launch=ehr["launch_token"])
    imaging = app.finish(browser.visit(url, f"{live.urls['app']}/callback/imaging"))
    ok(app.read(f"{live.fhir('imaging')}/Patient/{imaging['patient']}", imaging["access_token"]))


def token_exchange(live, app, browser):
    ehr = launch_at_ehr(live, app, browser, "launch openid fhirUser patient/*.rs")
    ok(app.read(f"{live.fhir('ehr')}/Patient/{ehr['patient']}", ehr["access_token"]))
    config = app.discover(live.fhir("imaging"))
    status, imaging = app.token_request(config["token_endpoint"], grant_type=TOKEN_EXCHANGE,
                                        subject_token=ehr["access_token"], subject_token_type=ACCESS_TOKEN,
                                        scope="patient/*.rs")
    if status != 200:
        raise RuntimeError(imaging)
    ok(app.read(f"{live.fhir('imaging')}/Patient/{imaging['patient']}", imaging["access_token"]))


def dual_launch(live, app, browser):
    ehr = launch_at_ehr(live, app, browser, "launch openid fhirUser patient/*.rs")
    ok(app.read(f"{live.fhir('ehr')}/Patient/{ehr['patient']}", ehr["access_token"]))
    url, _ = app.authorize_url(live.fhir("imaging"), "launch/patient openid fhirUser patient/*.rs", "imaging",
                               login_hint=ehr["id_token"])
    imaging = app.finish(browser.visit(url, f"{live.urls['app']}/callback/imaging"))
    ok(app.read(f"{live.fhir('imaging')}/Patient/{imaging['patient']}", imaging["access_token"]))


MECHANISMS = [
    ("plain SMART EHR launch (one server)", single_server),
    ("D shared token (auth-multi-aud-token)", shared_token),
    ("B launch-token, second launch", launch_token),
    ("C token exchange (access token)", token_exchange),
    ("A dual launch (EHR id_token, consent)", dual_launch),
]


def measure(live, mechanism, runs):
    times, trips = [], []
    for _ in range(runs):
        counter = {"round_trips": 0}
        app = App(live.data_dir, live.urls["app"], counter=counter, urls=live.urls)
        browser = Browser("clinician", counter=counter)
        browser.login(live.urls["ehr"])
        browser.login(live.urls["imaging"])
        counter["round_trips"] = 0  # signing in happens before the app starts
        started = time.perf_counter()
        mechanism(live, app, browser)
        times.append((time.perf_counter() - started) * 1000)
        trips.append(counter["round_trips"])
    return statistics.median(times), min(times), max(times), trips[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        live = Deployments(data_dir).start()
        try:
            for _, mechanism in MECHANISMS:  # warm up every path once
                measure(live, mechanism, 1)
            rows = [(name, *measure(live, mechanism, args.runs)) for name, mechanism in MECHANISMS]
        finally:
            live.stop()
    print(f"\nMulti-server mechanisms, discovery to first FHIR read on every server ({args.runs} runs each)")
    print(f"{'mechanism':42} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'round trips':>12}")
    for name, median, low, high, trips in rows:
        print(f"{name:42} {median:10.1f} {low:8.1f} {high:8.1f} {trips:12d}")


if __name__ == "__main__":
    main()
