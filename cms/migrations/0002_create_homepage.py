"""Replace Wagtail's placeholder welcome page with our HomePage, so `migrate` alone serves it."""

from django.db import migrations

SHORTCUTS = [
    ("缴纳电费", "查看账单，在线缴费", "/me/", "pay"),
    ("我的户号", "绑定与管理用电户号", "/me/", "account"),
    ("业务办理", "新装、增容、过户等业务申请", "/me/", "apply"),
    ("停电公告", "计划停电与故障停电信息", "/", "notice"),
    ("故障报修", "7×24 小时服务热线 95598", "/", "repair"),
    ("服务指南", "服务承诺、电价标准与常见问题", "/", "help"),
]


def create_homepage(apps, schema_editor):
    ContentType = apps.get_model("contenttypes.ContentType")
    Page = apps.get_model("wagtailcore.Page")
    Site = apps.get_model("wagtailcore.Site")
    Locale = apps.get_model("wagtailcore.Locale")
    HomePage = apps.get_model("cms.HomePage")
    HomeShortcut = apps.get_model("cms.HomeShortcut")

    # Wagtail's own first migration made a "Welcome" page at path 00010001; take its place.
    Page.objects.filter(depth=2, slug="home").delete()
    content_type, _ = ContentType.objects.get_or_create(model="homepage", app_label="cms")
    locale = Locale.objects.order_by("pk").first()
    home = HomePage.objects.create(
        title="网上营业厅",
        draft_title="网上营业厅",
        slug="home",
        content_type=content_type,
        path="00010001",
        depth=2,
        numchild=0,
        url_path="/home/",
        locale=locale,
        live=True,
        intro="<p>足不出户，办理用电业务：查询账单、在线缴费、业务申请、进度查询，一站办好。</p>",
    )
    for order, (title, description, url, icon) in enumerate(SHORTCUTS):
        HomeShortcut.objects.create(
            page=home, sort_order=order, title=title, description=description,
            link_url=url, icon=icon,
        )
    Site.objects.update_or_create(
        is_default_site=True,
        defaults={"hostname": "localhost", "port": 80, "root_page": home, "site_name": "powerhall"},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("cms", "0001_initial"),
        ("wagtailcore", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_homepage, migrations.RunPython.noop)]
