"""Translations: the Chinese catalogue is complete and current, templates hold no untranslated
text, and the site speaks the language the visitor asked for.

Source strings are English; Simplified Chinese (zh-hans, catalogue locale/zh_Hans) is the default.
"""

import hashlib
import html
import re
import shutil
import unicodedata
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.template import Engine, engines
from django.template.base import TextNode
from django.template.loader_tags import BlockNode
from django.urls import reverse

BASE_DIR = Path(settings.BASE_DIR)
LOCALE = "zh_Hans"
CATALOGUE = BASE_DIR / "locale" / LOCALE / "LC_MESSAGES" / "django.po"
TEMPLATES_DIR = BASE_DIR / "templates"

# Never copied into the scratch tree that makemessages runs on: not sources, or not ours.
COPY_IGNORE = (
    ".venv",
    ".git",
    "var",
    "__pycache__",
    "*.mo",
    "*.pyc",
    ".ruff_cache",
    "node_modules",
    "media",
    "test-results",
)


def _key(entry):
    return (entry.msgctxt or "", entry.msgid)


def _label(key):
    context, msgid = key
    return f"{msgid!r} (context {context!r})" if context else repr(msgid)


def _is_translated(entry) -> bool:
    # polib: False for an empty msgstr (or any empty plural form), a fuzzy or an obsolete entry.
    return entry.translated()


# --- (a) The catalogue --------------------------------------------------------------------------
def test_every_message_in_the_chinese_catalogue_is_translated():
    catalogue = polib.pofile(str(CATALOGUE))
    untranslated = [_label(_key(e)) for e in catalogue if not e.obsolete and not _is_translated(e)]
    assert not untranslated, (
        f"{len(untranslated)} empty or fuzzy entries in {CATALOGUE.relative_to(BASE_DIR)}:\n"
        + "\n".join(untranslated)
    )


def test_the_chinese_catalogue_has_every_message_of_the_current_code(
    tmp_path, settings, monkeypatch
):
    """Run makemessages on a scratch copy of the project and compare.

    makemessages walks the current directory and writes each file's messages to the locale
    directory whose parent contains that file; it also adopts any "locale" folder it meets on the
    way. Run in the repository, it would pick locale/ there whatever LOCALE_PATHS says (and it
    writes temporary "*.html.py" files next to the templates). So the sources are copied too, and
    it runs inside the copy, with LOCALE_PATHS pointing at the copy's locale/.
    """
    assert shutil.which("xgettext") and shutil.which("msgmerge"), (
        "GNU gettext is not installed: run scripts/system-deps"
    )
    before = hashlib.sha256(CATALOGUE.read_bytes()).hexdigest()

    scratch = tmp_path / "project"
    shutil.copytree(BASE_DIR, scratch, ignore=shutil.ignore_patterns(*COPY_IGNORE))
    settings.LOCALE_PATHS = [scratch / "locale"]
    monkeypatch.chdir(scratch)
    call_command(
        "makemessages",
        locale=[LOCALE],
        ignore_patterns=[".venv/*", "var/*"],
        no_obsolete=True,
        verbosity=0,
    )

    assert hashlib.sha256(CATALOGUE.read_bytes()).hexdigest() == before, (
        "makemessages wrote into the repository's catalogue"
    )
    current = {_key(e): e for e in polib.pofile(str(scratch / CATALOGUE.relative_to(BASE_DIR)))}
    committed = {_key(e): e for e in polib.pofile(str(CATALOGUE)) if not e.obsolete}

    missing = sorted(key for key in current if key not in committed)
    untranslated = sorted(
        key for key, entry in current.items() if key in committed and not _is_translated(entry)
    )
    problems = [f"missing: {_label(key)}" for key in missing]
    problems += [f"untranslated: {_label(key)}" for key in untranslated]
    assert not problems, (
        "The Chinese catalogue is stale. Run `make messages`, translate these in "
        f"{CATALOGUE.relative_to(BASE_DIR)} and compile:\n" + "\n".join(problems)
    )


# --- (b) No untranslated text in templates ------------------------------------------------------
# Text that is the same in every language. Language names are written in their own language;
# an HTTP header is typed as it is, whatever the reader's language.
ALLOWED_TEXT = {"简体中文", "English", "Authorization: Bearer"}
# Attributes whose values people read (or hear): checked like text. Others (class, href, …) not.
READ_ATTRIBUTES = re.compile(
    r"""\b(?:alt|title|placeholder|aria-label|aria-description)\s*=\s*(["'])(.*?)\1""",
    re.IGNORECASE | re.DOTALL,
)
HIDDEN = "\x00"  # stands in for everything that is not literal template text
# Blocks whose text is not something to read: base.html's body_class (an attribute value) and
# the PDF base's style (CSS inside <style>).
ATTRIBUTE_BLOCKS = {"body_class", "style"}


def _scan_engine() -> Engine:
    """The project's template engine, in debug mode so every token knows its source position."""
    base = engines["django"].engine
    return Engine(
        dirs=base.dirs,
        app_dirs=base.app_dirs,
        libraries=base.libraries,
        builtins=base.builtins,
        debug=True,
    )


def _text_nodes(nodelist):
    for node in nodelist:
        if isinstance(node, TextNode):
            yield node
        elif isinstance(node, BlockNode) and node.name in ATTRIBUTE_BLOCKS:
            continue
        for attr in node.child_nodelists:
            if children := getattr(node, attr, None):
                yield from _text_nodes(children)


def _literal_text(template) -> str:
    """The template source with only its literal text kept; tags, variables, comments and the
    insides of {% blocktranslate %} (which are not TextNodes) become HIDDEN."""
    source = template.source
    kept = [HIDDEN] * len(source)
    for node in _text_nodes(template.nodelist):
        start, end = node.token.position
        kept[start:end] = source[start:end]
    return "".join(kept)


def _is_human_text(text: str) -> bool:
    text = text.replace(HIDDEN, " ")
    for allowed in ALLOWED_TEXT:
        text = text.replace(allowed, " ")
    # Letters (Latin, CJK, …) make text human; digits (95598), punctuation and symbols (·, —, ©,
    # ×) do not.
    return any(unicodedata.category(char).startswith("L") for char in text)


def _untranslated_text(template) -> list[str]:
    text = _literal_text(template)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.DOTALL)
    text = re.sub(r"<(script|style)\b.*?</\1\s*>", " ", text, flags=re.DOTALL | re.IGNORECASE)
    found = []
    for tag in re.findall(r"<[^>]*>", text):
        found += [value for _, value in READ_ATTRIBUTES.findall(tag) if _is_human_text(value)]
    for chunk in re.split(r"<[^>]*>", text):
        chunk = html.unescape(chunk)
        if _is_human_text(chunk):
            found.append(chunk)
    return [" ".join(item.replace(HIDDEN, " ").split()) for item in found]


def _project_templates() -> list[str]:
    return sorted(
        str(path.relative_to(TEMPLATES_DIR))
        for path in TEMPLATES_DIR.rglob("*")
        if path.suffix in {".html", ".txt"}
    )


def test_the_template_scanner_finds_untranslated_text():
    engine = _scan_engine()
    template = engine.from_string(
        '{% load i18n %}<p title="Hover text">{% translate "Fine" %} 95598 · — '
        "{% blocktranslate %}Also fine {{ x }}{% endblocktranslate %}</p>"
        '<a href="/x/" class="nav">Forgot {{ who }}</a><span>电费</span>{# a comment #}'
        "{% if x %}<b>Shown</b>{% else %}{% for i in x %}{{ i }} items{% endfor %}{% endif %}"
        "{% block body_class %}layout-x{% endblock %}<br>{% block content %}Lost{% endblock %}"
    )
    assert _untranslated_text(template) == [
        "Hover text",
        "Forgot",
        "电费",
        "Shown",
        "items",
        "Lost",
    ]


def test_templates_have_no_untranslated_text():
    engine = _scan_engine()
    names = _project_templates()
    assert "base.html" in names
    problems = [
        f"{name}: {text!r}"
        for name in names
        for text in _untranslated_text(engine.get_template(name))
    ]
    assert not problems, (
        "Visible text outside {% translate %} / {% blocktranslate %}:\n" + "\n".join(problems)
    )


# --- (c) The visitor's language -----------------------------------------------------------------
def _main_nav(content: str) -> str:
    match = re.search(r'<nav class="site-nav site-nav--wide".*?</nav>', content, re.DOTALL)
    assert match, "the main navigation is missing"
    return match.group(0)


@pytest.fixture
def compiled_catalogue():
    compiled = CATALOGUE.with_suffix(".mo")
    if not compiled.exists() or compiled.stat().st_mtime < CATALOGUE.stat().st_mtime:
        pytest.fail(
            "locale/zh_Hans/LC_MESSAGES/django.mo is missing or older than django.po: run "
            "`make setup` (manage.py compilemessages)"
        )


ENGLISH = ["Home", "Notices", "Pay bills", "My accounts", "Applications"]
CHINESE = ["首页", "通知公告", "缴纳电费", "我的户号", "业务办理"]


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_catalogue")
@pytest.mark.parametrize("path", ["/", "/accounts/login/"])
@pytest.mark.parametrize(
    ("how", "language", "words", "other_words"),
    [
        ("header", "en", ENGLISH, CHINESE),
        ("header", "zh-hans", CHINESE, ENGLISH),
        ("cookie", "en", ENGLISH, CHINESE),
        ("cookie", "zh-hans", CHINESE, ENGLISH),
        ("nothing", "zh-hans", CHINESE, ENGLISH),
    ],
)
def test_pages_speak_the_language_the_visitor_asked_for(
    client, path, how, language, words, other_words
):
    if how == "header":
        response = client.get(path, HTTP_ACCEPT_LANGUAGE=language)
    elif how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans" if language == "en" else "en")
    else:  # no preference at all: the default language
        response = client.get(path)

    assert response.status_code == 200
    content = response.content.decode()
    assert f'<html lang="{language}">' in content
    nav = _main_nav(content)
    for word in words:
        assert f">{word}</a>" in nav
    for word in other_words:
        assert f">{word}</a>" not in nav


@pytest.mark.django_db
@pytest.mark.usefixtures("compiled_catalogue")
def test_the_language_switch_posts_to_set_language_and_comes_back(client):
    page = client.get("/accounts/login/").content.decode()
    assert f'action="{reverse("set_language")}" method="post"' in page
    assert '<input type="hidden" name="next" value="/accounts/login/">' in page
    assert 'name="language" value="en"' in page

    response = client.post(reverse("set_language"), {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    english = client.get("/accounts/login/").content.decode()
    assert '<html lang="en">' in english
    assert ">My accounts</a>" in _main_nav(english)
