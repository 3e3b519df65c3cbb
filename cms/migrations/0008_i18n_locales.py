"""The content languages (docs/cms.md, "Languages"): the pages so far are Chinese (zh-hans, the
locale Wagtail made from LANGUAGE_CODE when the database was created); English (en) is added so
editors can translate them."""

from django.db import migrations

DEFAULT = "zh-hans"
OTHERS = ["en"]


def locales_ensure(apps, schema_editor):
    Locale = apps.get_model("wagtailcore", "Locale")
    Site = apps.get_model("wagtailcore", "Site")
    if not Locale.objects.filter(language_code=DEFAULT).exists():
        # A database first migrated under another LANGUAGE_CODE: the locale its pages carry (the
        # site's home page's) is the Chinese one under another name.
        site = Site.objects.filter(is_default_site=True).select_related("root_page").first()
        locale_id = site.root_page.locale_id if site else None
        if locale_id is None:
            Locale.objects.create(language_code=DEFAULT)
        else:
            Locale.objects.filter(pk=locale_id).update(language_code=DEFAULT)
    for language_code in OTHERS:
        Locale.objects.get_or_create(language_code=language_code)


class Migration(migrations.Migration):
    dependencies = [
        ("cms", "0007_pages_drop_shortcuts"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [migrations.RunPython(locales_ensure, migrations.RunPython.noop)]
