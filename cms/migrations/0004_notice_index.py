"""The notice index (通知公告) under the home page, so `migrate` alone serves /notices/."""

from django.db import migrations


def _next_child_path(parent, Page) -> str:
    last = (
        Page.objects.filter(path__startswith=parent.path, depth=parent.depth + 1)
        .order_by("-path")
        .values_list("path", flat=True)
        .first()
    )
    step = int(last[-4:], 36) + 1 if last else 1
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    encoded = ""
    while step:
        step, rest = divmod(step, 36)
        encoded = digits[rest] + encoded
    return parent.path + encoded.rjust(4, "0")


def create_notice_index(apps, schema_editor):
    ContentType = apps.get_model("contenttypes.ContentType")
    Page = apps.get_model("wagtailcore.Page")
    HomePage = apps.get_model("cms.HomePage")
    NoticeIndexPage = apps.get_model("cms.NoticeIndexPage")
    home = HomePage.objects.first()
    if home is None or NoticeIndexPage.objects.exists():
        return
    content_type, _ = ContentType.objects.get_or_create(model="noticeindexpage", app_label="cms")
    NoticeIndexPage.objects.create(
        title="通知公告",
        draft_title="通知公告",
        slug="notices",
        content_type=content_type,
        path=_next_child_path(home, Page),
        depth=home.depth + 1,
        numchild=0,
        url_path=f"{home.url_path}notices/",
        locale_id=home.locale_id,
        live=True,
        intro="<p>计划停电、故障停电、电价调整与其他公告。</p>",
    )
    Page.objects.filter(pk=home.pk).update(numchild=home.numchild + 1)
    # The home page's "outage notices" tile pointed at the home page until now.
    HomeShortcut = apps.get_model("cms.HomeShortcut")
    HomeShortcut.objects.filter(page=home, icon="notice", link_url="/").update(
        link_url="/notices/"
    )


class Migration(migrations.Migration):
    dependencies = [("cms", "0003_notices")]

    operations = [migrations.RunPython(create_notice_index, migrations.RunPython.noop)]
