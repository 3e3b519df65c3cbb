"""PostgreSQL only: the staff queue's search by name, phone, address or part of a reference
reads an index instead of every case (docs/performance.md, "Staff queue").

``applications_bigrams(text)`` is the set of every two adjacent characters of the upper-cased
text; a GIN index holds it for the four searched fields of each case. A case whose fields
contain the searched text (the queue's ``icontains``, which compares upper-cased text) holds
every pair of the text's characters, so ``bigrams(fields) @> bigrams(text)`` finds a small
superset through the index, and the ``icontains`` conditions, still in the query, keep exactly
the cases they kept before. Pairs and not pg_trgm's trigrams: a Chinese name is two or three
characters, and pg_trgm finds no trigram in a two-character ``LIKE '%王芳%'`` (it would read the
whole index). SQLite keeps reading the cases (no migration there).
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION applications_bigrams(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(upper(value), i, 2)), '{}')
    FROM generate_series(1, char_length(value) - 1) AS i
$$
"""
INDEX = """
CREATE INDEX case_search_bigrams ON applications_case USING gin (
    applications_bigrams(
        reference || ' ' || contact_name || ' ' || contact_phone || ' ' || address
    )
)
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)
        schema_editor.execute(INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS case_search_bigrams")
        schema_editor.execute("DROP FUNCTION IF EXISTS applications_bigrams(text)")


class Migration(migrations.Migration):
    dependencies = [("applications", "0009_queue_open_index")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
