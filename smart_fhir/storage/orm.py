"""The default backend: validated JSON in ``StoredResource`` with indexed ``SearchValue`` rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import reduce
from operator import and_, or_

from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, OuterRef, Q, Subquery

from ..models import ResourceVersion, SearchValue, StoredResource
from ..search import PATIENT_COMPARTMENT, SearchQuery, compartment_of, index_values, parameters_for
from ..search.params import SEARCH_PARAMETERS
from .base import Entry, Grant, SearchResult, StorageBackend, VersionConflict


_READ_SQL = (
    f"SELECT version_id, deleted, compartment, text FROM {StoredResource._meta.db_table} "
    "WHERE resource_type = %s AND logical_id = %s"
)

_TABLE = StoredResource._meta.db_table
_PAGE_COLUMNS = f"{StoredResource._meta.pk.column}, logical_id, version_id, deleted, compartment, text"


def _fetchall(sql, params):
    """Rows of a hand-written read query (``%s`` placeholders)."""
    connection = connections[router.db_for_read(StoredResource)]
    if connection.vendor == "sqlite" and not connection.execute_wrappers and not connection.queries_logged:
        # Django's cursor wrapper costs more than SQLite's indexed lookup; without execute
        # wrappers or query logging nothing would see the difference. Errors are still Django's.
        connection.ensure_connection()
        with connection.wrap_database_errors:
            return connection.connection.execute(sql.replace("%s", "?"), params).fetchall()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _entry(row) -> Entry:
    return Entry(
        row.resource_type,
        row.logical_id,
        str(row.version_id),
        row.deleted,
        getattr(row, "compartment", None),
        _text=row.text,
    )


class OrmStorage(StorageBackend):
    # The types it knows how to index and to place in a patient compartment.
    resource_types = frozenset(SEARCH_PARAMETERS)

    # --- reads -------------------------------------------------------------------------------
    def read_entry(self, resource_type, resource_id):
        # The hottest path of the server: one indexed lookup in hand-written SQL, because
        # building the equivalent ORM query costs more than running it (see benchmarks/).
        rows = _fetchall(_READ_SQL, [resource_type, resource_id])
        if not rows:
            return None
        version_id, deleted, compartment, text = rows[0]
        return Entry(resource_type, resource_id, str(version_id), bool(deleted), compartment, _text=text)

    def vread(self, resource_type, resource_id, version_id):
        if not str(version_id).isdigit():
            return None
        row = ResourceVersion.objects.filter(
            resource_type=resource_type, logical_id=resource_id, version_id=int(version_id)
        ).first()
        return _entry(row) if row else None

    def history(self, resource_type, resource_id):
        rows = ResourceVersion.objects.filter(resource_type=resource_type, logical_id=resource_id)
        return [_entry(r) for r in rows.order_by("-version_id")]

    # --- writes ------------------------------------------------------------------------------
    def create(self, resource_type, resource):
        resource_id = str(resource.get("id") or uuid.uuid4())
        with transaction.atomic():
            if StoredResource.objects.filter(resource_type=resource_type, logical_id=resource_id).exists():
                raise VersionConflict(f"{resource_type}/{resource_id} already exists")
            try:
                return self._write(resource_type, resource_id, resource, version=1)
            except IntegrityError:
                raise VersionConflict(f"{resource_type}/{resource_id} already exists")

    def update(self, resource_type, resource_id, resource, if_match=None):
        with transaction.atomic():
            current = (
                StoredResource.objects.select_for_update()
                .filter(resource_type=resource_type, logical_id=resource_id)
                .first()
            )
            if if_match is not None and (current is None or str(current.version_id) != str(if_match)):
                raise VersionConflict(f"{resource_type}/{resource_id} is not at version {if_match}")
            version = current.version_id + 1 if current else 1
            return self._write(resource_type, resource_id, resource, version, current), current is None

    def delete(self, resource_type, resource_id):
        with transaction.atomic():
            current = (
                StoredResource.objects.select_for_update()
                .filter(resource_type=resource_type, logical_id=resource_id, deleted=False)
                .first()
            )
            if current is None:
                return False
            now = datetime.now(UTC)
            current.version_id += 1
            current.deleted, current.last_updated, current.text = True, now, ""
            current.save()
            current.search_values.all().delete()
            ResourceVersion.objects.create(
                resource_type=resource_type,
                logical_id=resource_id,
                version_id=current.version_id,
                last_updated=now,
                deleted=True,
            )
            return True

    def _write(self, resource_type, resource_id, resource, version, current=None):
        now = datetime.now(UTC)
        meta = {
            k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")
        }
        resource = {
            "resourceType": resource_type,
            "id": resource_id,
            "meta": {"versionId": str(version), "lastUpdated": _instant(now), **meta},
            **{k: v for k, v in resource.items() if k not in ("resourceType", "id", "meta")},
        }
        text = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
        compartment = compartment_of(resource_type, resource)
        fields = {
            "version_id": version,
            "last_updated": now,
            "deleted": False,
            "compartment": compartment,
            "text": text,
        }
        if current is None:
            row = StoredResource.objects.create(resource_type=resource_type, logical_id=resource_id, **fields)
        else:
            for key, value in fields.items():
                setattr(current, key, value)
            current.save()
            current.search_values.all().delete()
            row = current
        ResourceVersion.objects.create(
            resource_type=resource_type,
            logical_id=resource_id,
            version_id=version,
            last_updated=now,
            text=text,
        )
        SearchValue.objects.bulk_create(
            SearchValue(
                resource=row,
                resource_type=resource_type,
                param=name,
                system=value.system,
                value=value.value,
                date_low=value.low,
                date_high=value.high,
            )
            for name, value in index_values(resource_type, resource)
        )
        return Entry(
            resource_type, resource_id, str(version), False, compartment, _text=text, _resource=resource
        )

    # --- search ------------------------------------------------------------------------------
    def run_search(self, query: SearchQuery, grants: list[Grant] | None = None) -> SearchResult:
        result = SearchResult()
        if query.summary_count or query.count == 0:
            result.total = self.filtered(query, grants).count()
            return result
        # One row more than the page: when the page is not full the total is known without a
        # second (COUNT) query.
        page = self._compartment_page(query, grants)
        if page is None:
            # Tuples rather than model instances: a page of 200 builds no objects it does not need.
            fields = ("pk", "logical_id", "version_id", "deleted", "compartment", "text")
            rows = self._ordered(self.filtered(query, grants), query)
            page = list(rows.values_list(*fields)[query.offset : query.offset + query.count + 1])
        if len(page) <= query.count and (page or query.offset == 0):
            result.total = query.offset + len(page)
        elif query.total:
            result.total = self.filtered(query, grants).count()
        result.more = len(page) > query.count
        page = page[: query.count]
        result.entries = [
            Entry(query.resource_type, ident, str(version), deleted, compartment, _text=text)
            for _pk, ident, version, deleted, compartment, text in page
        ]
        result.included = self._included(query, page)
        return result

    def _compartment_page(self, query, grants):
        """The page rows of the commonest search (``patient=`` and/or patient-compartment grants,
        no other parameter, default sort) in hand-written SQL, or None for any other search.

        Same WHERE clause, order and slice as the ORM path (``filtered`` + ``_ordered``): building
        that ORM query costs ~300 us, eight times running it (benchmarks/fhir_profile.py).
        """
        if query.sort or query.includes or query.revincludes:
            return None
        compartments = []  # each: compartment IN (...), ANDed
        for clause in query.clauses:
            patients = _compartment_patients(query.resource_type, clause)
            if patients is None:
                return None
            compartments.append(patients)
        if grants is not None:
            if not grants or any(g.clauses or g.patients is None for g in grants):
                return None
            # OR of the grants' compartments: one IN over their union.
            compartments.append(sorted(set().union(*(g.patients for g in grants))))
        sql = [f"SELECT {_PAGE_COLUMNS} FROM {_TABLE} WHERE resource_type = %s AND deleted = %s"]
        params = [query.resource_type, False]
        for patients in compartments:
            sql.append(
                f"AND compartment IN ({', '.join(['%s'] * len(patients))})" if patients else "AND 1 = 0"
            )
            params += patients
        sql.append(f"ORDER BY {StoredResource._meta.pk.column} LIMIT %s OFFSET %s")
        params += [query.count + 1, query.offset]
        return [
            (pk, ident, version, bool(deleted), compartment, text)
            for pk, ident, version, deleted, compartment, text in _fetchall(" ".join(sql), params)
        ]

    def filtered(self, query: SearchQuery, grants: list[Grant] | None):
        rows = StoredResource.objects.filter(resource_type=query.resource_type, deleted=False)
        for clause in query.clauses:
            rows = rows.filter(clause_q(query.resource_type, clause))
        if grants is not None:
            rows = rows.filter(grants_q(query.resource_type, grants))
        return rows

    def _ordered(self, rows, query):
        order = []
        for param, descending in query.sort:
            if param == "_id":
                key = F("logical_id")
            elif param == "_lastUpdated":
                key = F("last_updated")
            else:
                kind = parameters_for(query.resource_type)[param].kind
                column = "date_low" if kind == "date" else "value"
                values = SearchValue.objects.filter(resource=OuterRef("pk"), param=param)
                alias = f"sort_{len(order)}"
                ordered = values.order_by(f"-{column}" if descending else column).values(column)[:1]
                rows = rows.annotate(**{alias: Subquery(ordered)})
                key = F(alias)
            order.append(key.desc(nulls_last=True) if descending else key.asc(nulls_last=True))
        return rows.order_by(*order, "pk")

    def _included(self, query, page):
        if not page or not (query.includes or query.revincludes):
            return []
        found: dict[tuple[str, str], Entry] = {}
        ids = [row[0] for row in page]
        for _source, param in query.includes:
            references = SearchValue.objects.filter(resource_id__in=ids, param=param).values_list(
                "value", flat=True
            )
            wanted: dict[str, set[str]] = {}
            for reference in set(references):
                kind, _, ident = reference.partition("/")
                wanted.setdefault(kind, set()).add(ident)
            for kind, idents in wanted.items():
                for row in StoredResource.objects.filter(
                    resource_type=kind, logical_id__in=idents, deleted=False
                ):
                    found[(kind, row.logical_id)] = _entry(row)
        targets = [f"{query.resource_type}/{row[1]}" for row in page]
        for source, param in query.revincludes:
            matching = SearchValue.objects.filter(resource_type=source, param=param, value__in=targets)
            rows = StoredResource.objects.filter(pk__in=matching.values("resource_id"), deleted=False)
            for row in rows[:1000]:
                found[(source, row.logical_id)] = _entry(row)
        page_keys = {(query.resource_type, row[1]) for row in page}
        return [e for key, e in found.items() if key not in page_keys]


# --- search clauses as SQL -------------------------------------------------------------------
def clause_q(resource_type, clause) -> Q:
    if clause.kind == "id":
        return Q(logical_id__in=[v.code for v in clause.values])
    patients = _compartment_patients(resource_type, clause)
    if patients is not None:
        # The compartment column holds the subject Patient's id: no join needed.
        return Q(compartment__in=patients)
    if clause.param == "_lastUpdated":
        return reduce(or_, (_date_q(v, "last_updated", "last_updated") for v in clause.values))
    values = reduce(or_, (_value_q(clause, spec) for spec in clause.values))
    matching = SearchValue.objects.filter(Q(resource_type=resource_type, param=clause.param) & values)
    # An IN subquery driven by the (type, param, value) index stays flat as the table grows,
    # where a correlated EXISTS would probe every row of the type.
    return Q(pk__in=matching.values("resource_id"))


def _compartment_patients(resource_type, clause) -> list[str] | None:
    """The Patient ids a ``patient``/``subject`` clause names, when it maps onto the compartment
    column (every value a ``Patient/`` reference), else None."""
    if clause.param not in ("patient", "subject") or PATIENT_COMPARTMENT.get(resource_type) != "patient":
        return None
    patients = [v.code.split("/", 1)[1] for v in clause.values if (v.code or "").startswith("Patient/")]
    return patients if len(patients) == len(clause.values) else None


def grants_q(resource_type, grants: list[Grant]) -> Q:
    if not grants:
        return Q(pk__in=[])
    alternatives = []
    for grant in grants:
        parts = [clause_q(resource_type, c) for c in grant.clauses]
        if grant.patients is not None:
            parts.append(Q(compartment__in=sorted(grant.patients)))
        alternatives.append(reduce(and_, parts, Q()))
    return reduce(or_, alternatives)


def _value_q(clause, spec) -> Q:
    if clause.kind == "token":
        q = Q(value=spec.code) if spec.code is not None else Q()
        return q & Q(system=spec.system) if spec.system is not None else q
    if clause.kind == "reference":
        return Q(value=spec.code)
    if clause.kind == "string":
        if not clause.modifier:
            return _prefix_q(spec.text)
        lookup = {"exact": "value", "contains": "value__contains"}[clause.modifier]
        return Q(**{lookup: spec.text.lower() if clause.modifier == "exact" else spec.text})
    return _date_q(spec, "date_low", "date_high")


def _prefix_q(text) -> Q:
    """Strings starting with ``text`` (stored normalised). LIKE 'x%' cannot use the
    (type, param, value) index on SQLite, nor on PostgreSQL outside the C collation. Where
    strings compare by code point, the range [text, text with its last character + 1) holds
    exactly those strings, and the index serves it (and the planner estimates it well)."""
    if text and ord(text[-1]) < 0x10FFFF and _compares_by_code_point():
        return Q(value__gte=text, value__lt=text[:-1] + chr(ord(text[-1]) + 1))
    return Q(value__startswith=text)


_CODE_POINT_COLLATIONS = {"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"}
_collations = {}


def _compares_by_code_point() -> bool:
    connection = connections[router.db_for_read(SearchValue)]
    if connection.vendor == "sqlite":
        return True  # BINARY collation: UTF-8 bytes, i.e. code points
    if connection.vendor != "postgresql":
        return False
    key = (connection.alias, connection.settings_dict["NAME"])
    if key not in _collations:
        with connection.cursor() as cursor:
            cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
            _collations[key] = cursor.fetchone()[0]
    return _collations[key] in _CODE_POINT_COLLATIONS


def _date_q(spec, low, high) -> Q:
    prefix = spec.prefix
    if prefix == "eq":
        # low < high, so the third term is implied; it bounds the scan of the (…, date_low) index.
        return Q(**{f"{low}__gte": spec.low, f"{high}__lte": spec.high, f"{low}__lt": spec.high})
    if prefix == "ne":
        return ~Q(**{f"{low}__gte": spec.low, f"{high}__lte": spec.high})
    if prefix == "gt":
        return Q(**{f"{high}__gt": spec.high})
    if prefix == "sa":
        return Q(**{f"{low}__gte": spec.high})
    if prefix == "lt":
        return Q(**{f"{low}__lt": spec.low})
    if prefix == "eb":
        return Q(**{f"{high}__lte": spec.low})
    if prefix == "ge":
        return Q(**{f"{high}__gt": spec.low})
    return Q(**{f"{low}__lt": spec.high})  # le
