"""Settings of the hub processes that the live tests and the benchmark start (uvicorn).

FHIRCAST_LIVE_DB: a SQLite file (default) or FHIRCAST_LIVE_DATABASE_URL for PostgreSQL;
FHIRCAST_LIVE_REDIS: the Redis URL of the channels_redis layer shared by the processes.
"""

import os

from tests.settings.full import *  # noqa: F403


REDIS_URL = os.environ.get("FHIRCAST_LIVE_REDIS", "redis://127.0.0.1:6379/0")

if os.environ.get("FHIRCAST_LIVE_DATABASE_URL"):
    import dj_database_url

    # Under ASGI each request runs in its own thread, so persistent connections would leak:
    # use Django's PostgreSQL connection pool (psycopg_pool) instead.
    DATABASES = {"default": dj_database_url.parse(os.environ["FHIRCAST_LIVE_DATABASE_URL"], conn_max_age=0)}
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": 12, "timeout": 10},
        **POSTGRES_PREPARED_STATEMENTS,  # noqa: F405 (tests.settings.full: the sandbox's choice)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("FHIRCAST_LIVE_DB", "/tmp/fhircast-live.sqlite3"),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    }
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # socket_timeout above channels_redis' 5 s BZPOPMIN (redis-py 8 defaults to 5 s too).
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": os.environ.get("FHIRCAST_LIVE_PREFIX", "fhircast-live"),
            "capacity": 1000,
        },
    }
}
# The workers listen on different ports: one audience for the deployment, as behind a proxy.
FHIRCAST_HUB = {"ACK_TIMEOUT_SECONDS": 30, "AUDIENCES": ["http://testserver/fhir"]}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"level": "WARNING", "handlers": ["console"]},
}
