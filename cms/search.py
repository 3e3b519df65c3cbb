"""Site search that finds Chinese words (docs/cms.md, "Feeds and search").

Wagtail's database search backend lets the database split text into words: SQLite's FTS5
(unicode61 tokenizer) and PostgreSQL's text search parser both split on spaces and punctuation
only, so a run of Chinese characters such as 浦东新区计划停电检修通知 is one "word" and a search
for 停电 finds nothing. This backend is Wagtail's, with the Chinese cut into words on the way in
and on the way out, the same way on both databases:

- indexed text: each run of Chinese characters becomes jieba's words in search mode (the words
  and the dictionary words inside long ones: 浦东新区 → 浦东 新区 浦东新区), plus every pair of
  characters of a longer word with no dictionary word inside (a place such as 张江镇, which jieba
  finds by its shape, gives 张江 and 江镇), separated by spaces;
- a query: each run becomes jieba's words (precise mode), all of which must be found.

Other text (English, numbers, "10kV") is left to the database as before. `WAGTAILSEARCH_BACKENDS`
names this module; after changing how text is cut, rebuild the index: `manage.py update_index`.
"""

import re
from functools import cache
from types import FunctionType

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from modelsearch.backends.database import SearchBackend as database_backend_for
from modelsearch.query import Phrase, PlainText
from wagtail.models import Page, Site

# Han characters: CJK Unified Ideographs Extension A (U+3400–U+4DBF), the Unified Ideographs
# (U+4E00–U+9FFF) and the Compatibility Ideographs (U+F900–U+FAFF).
HAN_RUN = re.compile(r"[㐀-䶿一-鿿豈-﫿]+")


def _jieba():
    import rjieba  # loads its dictionary (a quarter of a second): only when there is Chinese

    return rjieba


def _index_words(run: str) -> list[str]:
    jieba = _jieba()
    words = list(jieba.cut_for_search(run))
    for word in jieba.cut(run):
        pairs = [word[i : i + 2] for i in range(len(word) - 1)]
        if len(pairs) > 1 and not any(jieba.has_word(pair) for pair in pairs):
            words += pairs  # a word found by its shape (张江镇): search mode cannot split it
    return list(dict.fromkeys(words))


def segment_text(text: str) -> str:
    """``text`` as the index should hold it: its Chinese cut into words (and the pairs of
    characters of words with no dictionary word inside), separated by spaces."""
    return HAN_RUN.sub(lambda run: f" {' '.join(_index_words(run.group()))} ", text)


def segment_query(text: str) -> str:
    """A query's Chinese cut into words, separated by spaces."""
    return HAN_RUN.sub(lambda run: f" {' '.join(_jieba().cut(run.group()))} ", text)


# --- Indexing -----------------------------------------------------------------------------------
class _SegmentingIndexer:
    """Mixed into a backend's ObjectIndexer: every value indexed is segmented."""

    def prepare_value(self, value):
        if isinstance(value, (list, dict)):
            return super().prepare_value(value)  # joins the items, each prepared here
        return segment_text(super().prepare_value(value))


def _add_items_with(add_items, indexer):
    """modelsearch's own ``add_items``, reading each object with ``indexer`` instead of its
    module's ``ObjectIndexer``. modelsearch (1.3) has no setting for the indexer, and a copy of
    its 50 to 80 lines would drift from the library's fixes."""
    if "ObjectIndexer" not in add_items.__code__.co_names:
        raise ImproperlyConfigured(
            f"{add_items.__qualname__} no longer builds an ObjectIndexer: cms.search must change."
        )
    return FunctionType(
        add_items.__code__,
        add_items.__globals__ | {"ObjectIndexer": indexer},
        add_items.__name__,
        add_items.__defaults__,
        add_items.__closure__,
    )


# --- Queries ------------------------------------------------------------------------------------
def _segmented(query):
    if isinstance(query, PlainText):
        return PlainText(
            segment_query(query.query_string), operator=query.operator, boost=query.boost
        )
    if isinstance(query, Phrase) and HAN_RUN.search(query.query_string):
        # Indexed words overlap (浦东 新区 浦东新区), so word positions cannot tell a phrase:
        # a Chinese phrase asks for all its words.
        return PlainText(segment_query(query.query_string), operator="and")
    return query


class _SQLiteQueries:
    def build_search_query_content(self, query, config=None):
        return super().build_search_query_content(_segmented(query), config=config)


class _PostgresQueries:
    def build_tsquery_content(self, query, config=None, invert=False):
        return super().build_tsquery_content(_segmented(query), config=config, invert=invert)


# --- The backends -------------------------------------------------------------------------------
# Each is built on first use: modelsearch's SQLite module needs its FTS model, which exists only
# when the database is SQLite.
@cache
def _sqlite_backend():
    from modelsearch.backends.database.sqlite import sqlite

    class ObjectIndexer(_SegmentingIndexer, sqlite.ObjectIndexer):
        pass

    class Index(sqlite.SQLiteIndex):
        add_items = _add_items_with(sqlite.SQLiteIndex.add_items, ObjectIndexer)

    class SearchQueryCompiler(_SQLiteQueries, sqlite.SQLiteSearchQueryCompiler):
        pass

    class AutocompleteQueryCompiler(_SQLiteQueries, sqlite.SQLiteAutocompleteQueryCompiler):
        pass

    class SQLiteSearchBackend(sqlite.SQLiteSearchBackend):
        index_class = Index
        query_compiler_class = SearchQueryCompiler
        autocomplete_query_compiler_class = AutocompleteQueryCompiler

    return SQLiteSearchBackend


@cache
def _postgres_backend():
    from modelsearch.backends.database.postgres import postgres

    class ObjectIndexer(_SegmentingIndexer, postgres.ObjectIndexer):
        pass

    class Index(postgres.PostgresIndex):
        add_items = _add_items_with(postgres.PostgresIndex.add_items, ObjectIndexer)

    class SearchQueryCompiler(_PostgresQueries, postgres.PostgresSearchQueryCompiler):
        pass

    class AutocompleteQueryCompiler(_PostgresQueries, postgres.PostgresAutocompleteQueryCompiler):
        pass

    class PostgresSearchBackend(postgres.PostgresSearchBackend):
        index_class = Index
        query_compiler_class = SearchQueryCompiler
        autocomplete_query_compiler_class = AutocompleteQueryCompiler

    return PostgresSearchBackend


_SEGMENTING = {"SQLiteSearchBackend": _sqlite_backend, "PostgresSearchBackend": _postgres_backend}


def SearchBackend(params):  # the name modelsearch looks for in a backend module
    """The database backend Wagtail would choose for this database, segmenting Chinese. (SQLite
    without FTS5 gets Wagtail's fallback, which matches substrings and so finds Chinese too.)"""
    backend = database_backend_for(params)
    segmenting = _SEGMENTING.get(type(backend).__name__)
    return segmenting()(params) if segmenting else backend


# --- The search page's query --------------------------------------------------------------------
def pages_matching(*, query: str, site: Site):
    """The live, public pages of ``site`` that match ``query``, best first."""
    return Page.objects.live().public().in_site(site).search(query)


SEARCH_KEYS_MAX = 500
"""How many matching pages a search in another language than Chinese reads, to list each page
once (50 pages of results)."""


def translation_keys_matching(*, query: str, site: Site) -> list:
    """The live, public pages of ``site`` in every language that match ``query``, best first, as
    their translation keys, each once: a page and its translation are one result
    (``cms.translation``). The site's tree in each language is its home page's translation's."""
    trees = Q()
    for root in site.root_page.get_translations(inclusive=True).only("path"):
        trees |= Q(path__startswith=root.path)
    found = Page.objects.live().public().filter(trees).search(query)[:SEARCH_KEYS_MAX]
    return list(dict.fromkeys(page.translation_key for page in found))
