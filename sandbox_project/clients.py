"""The demo apps' registrations: one ``software_id`` per app, a different ``client_id`` at each
deployment, as two vendors assign their own (DESIGN.md §6; RFC 7591 §2)."""

DEMO_SOFTWARE_ID = "org.example.smart-sandbox.demo-app"
PUBLIC_SOFTWARE_ID = "org.example.smart-sandbox.public-app"
DEMO_CLIENT_IDS = {"ehr": "sandbox-demo-app", "imaging": "imaging-demo-app"}
PUBLIC_CLIENT_IDS = {"ehr": "sandbox-public-app", "imaging": "imaging-public-app"}
