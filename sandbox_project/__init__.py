"""The sandbox: an EHR deployment, an imaging deployment and a demo app (not shipped)."""
