"""A hot queryset compiled once per database connection and run again with other values.

Django compiles a queryset into SQL on every evaluation. For the token endpoint's row lookups,
which join four or five tables (``select_related``), that compilation cost 0.3-0.8 ms per
request while the statement itself ran in 0.03 ms (benchmarks/README.md). :class:`CompiledQuery`
compiles the queryset once per connection with placeholder values, then runs the same SQL with
the request's values and builds the instances with the ORM's own pieces: the compiler's
converters, ``Model.from_db`` and the related-object populators that ``QuerySet`` iteration
uses, so what comes back equals what the queryset returns, related caches included (compared
field by field in ``tests/smart_auth/test_compiled.py``).

Written here because Django has no public way to reuse a compiled query. The pieces it relies
on (``SQLCompiler.results_iter``, ``get_related_populators``) are the ones ``ModelIterable``
uses; a query that carries extra or annotated columns is refused when it is built.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import CASCADE, Model, signals
from django.db.models.query import get_related_populators
from django.db.models.sql import InsertQuery


class _Plan:
    def __init__(self, queryset, alias, connection, sentinels):
        query = queryset.query
        if query.extra_select or query.annotation_select:
            raise ImproperlyConfigured("CompiledQuery takes querysets without extra or annotated columns")
        compiler = query.get_compiler(using=alias, connection=connection)
        sql, params = compiler.as_sql()
        params = list(params)
        self.slots = [params.index(sentinel) for sentinel in sentinels]
        self.sql, self.params, self.compiler = sql, params, compiler
        # What SQLCompiler.results_iter() works out on every run (a converter lookup per column,
        # 3 % of a refresh), once: composite primary keys are refused.
        fields = [column[0] for column in compiler.select[0 : compiler.col_count]]
        if compiler.has_composite_fields(fields):
            raise ImproperlyConfigured("CompiledQuery takes querysets without composite primary keys")
        self.converters = compiler.get_converters(fields)
        klass_info = compiler.klass_info
        self.model = klass_info["model"]
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [column[0].target.attname for column in compiler.select[self.start : self.end]]
        self.populators = get_related_populators(klass_info, compiler.select, alias)


class CompiledQuery:
    """``build(*sentinels)`` returns the queryset with each value the caller will pass later
    standing in as a sentinel; :meth:`first` runs it with real values."""

    def __init__(self, build, *sentinels):
        self.build = build
        self.sentinels = sentinels
        self._attribute = f"_smart_auth_compiled_{id(self)}"
        self._model = None

    def _plan(self, alias):
        connection = connections[alias]
        # Kept on the connection object, which is the thread's own: its converters are bound to
        # it, and no other thread ever reads it.
        plan = getattr(connection, self._attribute, None)
        if plan is None:
            plan = _Plan(self.build(*self.sentinels).using(alias), alias, connection, self.sentinels)
            setattr(connection, self._attribute, plan)
        return connection, plan

    def first(self, *values):
        """The first instance the queryset yields with ``values`` in place of the sentinels."""
        return next(self._instances(values), None)

    def all(self, *values):
        """Every instance the queryset yields with ``values`` in place of the sentinels."""
        return list(self._instances(values))

    def _instances(self, values):
        if self._model is None:
            self._model = self.build(*self.sentinels).model
        alias = router.db_for_read(self._model)
        connection, plan = self._plan(alias)
        params = list(plan.params)
        for slot, value in zip(plan.slots, values, strict=True):
            params[slot] = value
        with connection.cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        if plan.converters:
            rows = plan.compiler.apply_converters(rows, plan.converters)
        for row in rows:
            instance = plan.model.from_db(alias, plan.init_list, row[plan.start : plan.end])
            for populator in plan.populators:
                populator.populate(row, instance)
            yield instance


class _InsertPlan:
    def __init__(self, model, connection):
        meta = model._meta
        self.fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        self.relations = [f for f in self.fields if f.is_relation]
        self.returning = list(meta.db_returning_fields)
        query = InsertQuery(model)
        query.insert_values(self.fields, [model()])
        compiler = query.get_compiler(connection=connection)
        compiler.returning_fields = self.returning
        [(self.sql, params)] = compiler.as_sql()
        # One placeholder per field, or the model keeps save(): a database default or a default
        # expression compiles into the SQL itself.
        self.plain = len(params) == len(self.fields)
        # The converters Django's INSERT applies to what RETURNING sends back.
        self.compiler = compiler
        self.converters = compiler.get_converters([f.get_col(meta.db_table) for f in self.returning])


def _unsaved_related(instance, plan):
    """A related object assigned without its key (unsaved then): save() fills the key in or
    refuses the save."""
    return any(
        getattr(instance, field.attname) is None
        and field.is_cached(instance)
        and field.get_cached_value(instance) is not None
        for field in plan.relations
    )


def insert(instance):
    """Save the new ``instance`` as ``instance.save()`` would, with an INSERT compiled once per
    connection and model: the same ``pre_save`` field values (``auto_now``, checksums), the same
    database values, the primary key read back.

    ``instance.save()`` runs instead wherever it could do more than that: the model overrides
    ``save``, inherits from a concrete model, has ``pre_save``/``post_save`` receivers or a
    field with a database default; the instance already has a primary key, holds an expression,
    or a related object that has no key. Written here because Django has no public way to reuse
    a compiled INSERT; the ORM's INSERT compilation cost more than running the statement (0.05
    of 0.1 ms per row on SQLite).
    """
    model = type(instance)
    meta = model._meta
    if (
        model.save is not Model.save
        or meta.parents
        or instance.pk is not None
        or signals.pre_save.has_listeners(model)
        or signals.post_save.has_listeners(model)
    ):
        instance.save()
        return instance
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    if not connection.features.can_return_columns_from_insert:
        instance.save()
        return instance
    attribute = f"_smart_auth_insert_{meta.label_lower}"
    plan = getattr(connection, attribute, None)
    if plan is None:
        plan = _InsertPlan(model, connection)
        setattr(connection, attribute, plan)
    values = [field.pre_save(instance, True) for field in plan.fields]
    expression = any(hasattr(value, "resolve_expression") for value in values)
    if not plan.plain or expression or _unsaved_related(instance, plan):
        instance.save()  # SQL to compile for this row, or a related object save() must check
        return instance
    params = [f.get_db_prep_save(value, connection) for f, value in zip(plan.fields, values, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        rows = [cursor.fetchone()]
    if plan.converters:
        rows = list(plan.compiler.apply_converters(rows, plan.converters))
    for value, field in zip(rows[0], plan.returning, strict=True):
        setattr(instance, field.attname, value)
    instance._state.adding = False
    instance._state.db = alias
    return instance


def _plain_cascades(model):
    """The relations whose rows go with a ``model`` row as a plain DELETE each (on_delete=CASCADE,
    nothing referencing them in turn, no delete receivers), or None when deleting needs Django's
    collector (anything else, or the model's own delete receivers or ``delete`` override)."""
    meta = model._meta
    if model.delete is not Model.delete or meta.parents:
        return None
    cascades = []
    for relation in meta.related_objects:
        related = relation.related_model
        if (
            relation.many_to_many
            or relation.on_delete is not CASCADE
            or related._meta.related_objects
            or related._meta.parents
        ):
            return None
        cascades.append(relation)
    for listened in [model, *(r.related_model for r in cascades)]:
        if signals.pre_delete.has_listeners(listened) or signals.post_delete.has_listeners(listened):
            return None
    return cascades


def delete(instance):
    """Delete the saved ``instance`` as ``instance.delete()`` would, with one DELETE per table
    instead of Django's collector (0.5 ms per code exchange inside the write transaction,
    benchmarks/README.md); return how many ``instance`` rows went (0: it was gone already).

    Only where the collector would do just that: every relation to the model is a CASCADE from
    a model nothing references, and no delete receiver listens. ``instance.delete()`` runs
    otherwise. Written here because Django's fast delete is private (``QuerySet._raw_delete``).
    """
    model = type(instance)
    cascades = _plain_cascades(model)
    if cascades is None:
        deleted, per_model = instance.delete()
        return per_model.get(model._meta.label, 0)
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    quote = connection.ops.quote_name
    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
        for relation in cascades:
            field = relation.field
            table = quote(relation.related_model._meta.db_table)
            value = getattr(instance, field.target_field.attname)
            cursor.execute(f"DELETE FROM {table} WHERE {quote(field.column)} = %s", [value])  # noqa: S608
        meta = model._meta
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        cursor.execute(f"DELETE FROM {table} WHERE {pk} = %s", [instance.pk])  # noqa: S608
        deleted = cursor.rowcount
    setattr(instance, meta.pk.attname, None)  # as Model.delete() leaves it
    return deleted
