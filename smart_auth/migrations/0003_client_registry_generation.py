"""The client-registry generation counter and the triggers that bump it (smart_auth.client_registry).

Triggers, not signals: QuerySet.update(), raw SQL and other processes change registrations too,
and a process must never keep using a registration that changed. Written for SQLite and
PostgreSQL; on other databases no trigger is made and the registry reads through every time.
"""

from django.db import migrations, models
from oauth2_provider.settings import oauth2_settings


TRIGGER_EVENTS = ("INSERT", "UPDATE", "DELETE")


def _tables(apps):
    application = apps.get_model(*oauth2_settings.APPLICATION_MODEL.split("."))
    smart_client = apps.get_model("smart_auth", "SmartClient")
    generation = apps.get_model("smart_auth", "ClientRegistryGeneration")
    return [application._meta.db_table, smart_client._meta.db_table], generation._meta.db_table


def create_triggers(apps, schema_editor):
    generation_model = apps.get_model("smart_auth", "ClientRegistryGeneration")
    generation_model.objects.using(schema_editor.connection.alias).get_or_create(pk=1, defaults={"value": 0})
    watched, generation = _tables(apps)
    quote = schema_editor.quote_name
    # An upsert: a flushed table (test runs) gets its row back at the next change.
    bump = (
        f"INSERT INTO {quote(generation)} (id, value) VALUES (1, 1) "
        "ON CONFLICT (id) DO UPDATE SET value = " + quote(generation) + ".value + 1"
    )
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for table in watched:
            for event in TRIGGER_EVENTS:
                name = quote(f"smart_auth_registry_{table}_{event.lower()}")
                schema_editor.execute(
                    f"CREATE TRIGGER {name} AFTER {event} ON {quote(table)} BEGIN {bump}; END"
                )
    elif vendor == "postgresql":
        schema_editor.execute(
            "CREATE OR REPLACE FUNCTION smart_auth_registry_bump() RETURNS trigger AS $$ "
            f"BEGIN {bump}; RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        for table in watched:
            name = quote(f"smart_auth_registry_{table}")
            schema_editor.execute(
                f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {quote(table)} "
                "FOR EACH STATEMENT EXECUTE FUNCTION smart_auth_registry_bump()"
            )


def drop_triggers(apps, schema_editor):
    watched, _generation = _tables(apps)
    quote = schema_editor.quote_name
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for table in watched:
            for event in TRIGGER_EVENTS:
                schema_editor.execute(
                    f"DROP TRIGGER IF EXISTS {quote(f'smart_auth_registry_{table}_{event.lower()}')}"
                )
    elif vendor == "postgresql":
        for table in watched:
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {quote(f'smart_auth_registry_{table}')} ON {quote(table)}"
            )
        schema_editor.execute("DROP FUNCTION IF EXISTS smart_auth_registry_bump()")


class Migration(migrations.Migration):
    dependencies = [
        ("smart_auth", "0002_launch_token"),
        migrations.swappable_dependency(oauth2_settings.APPLICATION_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ClientRegistryGeneration",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("value", models.BigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "client registry generation",
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
