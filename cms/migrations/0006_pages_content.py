"""The home page's blocks, and the service commitments and tariffs pages.

1. Each home page's service shortcuts (until now ``HomeShortcut`` rows, dropped by 0007) become
   its first block, followed by the latest notices and the notice search by district; its
   revisions get the same blocks, so the editor opens what the site shows. The "服务指南" tile,
   which pointed at the home page, now points at the service commitments.
2. A service commitments page (/commitments/) and a tariffs page (/tariffs/) under the home page,
   so `migrate` alone serves them.

Reversing puts the shortcuts back as rows and removes the two pages.
"""

import json
import uuid

from django.db import migrations

GUIDE_ICON, COMMITMENTS_URL = "help", "/commitments/"
PAGES = [
    (
        "commitmentspage",
        "CommitmentsPage",
        "服务承诺",
        "commitments",
        "<p>我们向客户承诺的办理时限。下列时限与业务办理进度中的时限同出一源，始终一致。</p>",
    ),
    (
        "tariffspage",
        "TariffsPage",
        "电价标准",
        "tariffs",
        "<p>现行电价及已公布的调价，按地区列出。电费以供电公司账单为准。</p>",
    ),
]


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


def _shortcut(row: dict) -> dict:
    link = row["link_url"]
    if row["icon"] == GUIDE_ICON and link == "/":
        link = COMMITMENTS_URL
    value = {
        "title": row["title"],
        "description": row["description"],
        "link_url": link,
        "icon": row["icon"],
    }
    return {"type": "item", "value": value, "id": str(uuid.uuid4())}


def _blocks(shortcuts: list[dict]) -> list[dict]:
    """The home page's blocks: its shortcuts (if any), the latest notices, the notice search."""
    blocks = []
    if shortcuts:
        items = [_shortcut(row) for row in sorted(shortcuts, key=lambda r: r["sort_order"] or 0)]
        blocks.append({"type": "shortcuts", "value": {"heading": "", "shortcuts": items}})
    blocks.append({"type": "latest_notices", "value": {"heading": "", "count": 5}})
    blocks.append({"type": "notice_search", "value": {"heading": ""}})
    return [block | {"id": str(uuid.uuid4())} for block in blocks]


def home_blocks(apps, schema_editor):
    ContentType = apps.get_model("contenttypes.ContentType")
    HomePage = apps.get_model("cms.HomePage")
    HomeShortcut = apps.get_model("cms.HomeShortcut")
    Revision = apps.get_model("wagtailcore.Revision")
    content_type = ContentType.objects.filter(app_label="cms", model="homepage").first()
    for home in HomePage.objects.all():
        if not home.body:
            rows = HomeShortcut.objects.filter(page=home).values(
                "title", "description", "link_url", "icon", "sort_order"
            )
            home.body = _blocks(list(rows))
            home.save(update_fields=["body"])
        if content_type is None:
            continue
        for revision in Revision.objects.filter(
            content_type=content_type, object_id=str(home.pk)
        ):
            content = revision.content
            if content.get("body"):
                continue
            content["body"] = json.dumps(_blocks(content.get("shortcuts") or []))
            revision.save(update_fields=["content"])


def home_shortcuts(apps, schema_editor):
    """Back: the first shortcuts block's tiles as rows; the blocks emptied."""
    HomePage = apps.get_model("cms.HomePage")
    HomeShortcut = apps.get_model("cms.HomeShortcut")
    for home in HomePage.objects.all():
        stream = home.body.raw_data if home.body else []
        tiles = next((b["value"]["shortcuts"] for b in stream if b["type"] == "shortcuts"), [])
        if not HomeShortcut.objects.filter(page=home).exists():
            for order, tile in enumerate(tiles):
                value = tile.get("value", tile)  # list items, with or without their ids
                link = value["link_url"]
                if value.get("icon") == GUIDE_ICON and link == COMMITMENTS_URL:
                    link = "/"  # the page goes too
                HomeShortcut.objects.create(
                    page=home,
                    sort_order=order,
                    title=value["title"],
                    description=value.get("description", ""),
                    link_url=link,
                    icon=value.get("icon", GUIDE_ICON),
                )
        home.body = []
        home.save(update_fields=["body"])


def service_pages(apps, schema_editor):
    ContentType = apps.get_model("contenttypes.ContentType")
    Page = apps.get_model("wagtailcore.Page")
    HomePage = apps.get_model("cms.HomePage")
    home = HomePage.objects.order_by("path").first()
    if home is None:
        return
    for model_name, class_name, title, slug, intro in PAGES:
        model = apps.get_model("cms", class_name)
        if model.objects.exists():
            continue
        parent = Page.objects.get(pk=home.pk)  # afresh: the path and numchild change each time
        taken = set(
            Page.objects.filter(
                path__startswith=parent.path, depth=parent.depth + 1
            ).values_list("slug", flat=True)
        )
        unique, number = slug, 1
        while unique in taken:
            number += 1
            unique = f"{slug}-{number}"
        content_type, _ = ContentType.objects.get_or_create(model=model_name, app_label="cms")
        model.objects.create(
            title=title,
            draft_title=title,
            slug=unique,
            content_type=content_type,
            path=_next_child_path(parent, Page),
            depth=parent.depth + 1,
            numchild=0,
            url_path=f"{parent.url_path}{unique}/",
            locale_id=parent.locale_id,
            live=True,
            intro=intro,
        )
        Page.objects.filter(pk=parent.pk).update(numchild=parent.numchild + 1)


def service_pages_remove(apps, schema_editor):
    Page = apps.get_model("wagtailcore.Page")
    for _model_name, class_name, *_rest in PAGES:
        for page in apps.get_model("cms", class_name).objects.all():
            parent = Page.objects.filter(
                path=page.path[: -4], depth=page.depth - 1
            ).first()
            Page.objects.filter(pk=page.pk).delete()
            if parent is not None:
                Page.objects.filter(pk=parent.pk).update(numchild=max(parent.numchild - 1, 0))


class Migration(migrations.Migration):
    dependencies = [
        ("cms", "0005_pages_models"),
        ("wagtailcore", "0098_apitoken"),
    ]

    operations = [
        migrations.RunPython(home_blocks, home_shortcuts),
        migrations.RunPython(service_pages, service_pages_remove),
    ]
