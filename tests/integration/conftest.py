"""Live deployments for the cross-server tests: the sandbox's EHR and imaging deployments in their
own processes, with their own SQLite databases and keys, on free ports."""

import pytest

from sandbox_project.scripted import App, Browser


@pytest.fixture
def app(live):
    return App(live.data_dir, live.urls["app"], urls=live.urls)


@pytest.fixture
def browser():
    return Browser("clinician")
