"""The site's pages: the home page's blocks (shortcuts carried over from before, the latest
notices, the notice search, the hotline of the site settings), the service commitments and
tariffs pages drawn from the same rows the clocks and bills use, guides with the wizard's
document lists, the FAQ, standard pages, and the tree editors may build."""

import json
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from bs4 import BeautifulSoup
from django.core.files.images import ImageFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import translation
from wagtail.images.models import Image
from wagtail.images.tests.utils import get_test_image_file
from wagtail.models import Page, Site

from applications.commitments import rule_for
from applications.kinds import kind_versions_current
from applications.models import ApplicationKind, CommitmentRule, KindDocument
from cms.models import (
    CommitmentsPage,
    FaqPage,
    GuidePage,
    HomePage,
    NoticeIndexPage,
    NoticePage,
    ServiceSettings,
    StandardPage,
    TariffsPage,
)
from payments.models import Tariff, TariffBand, TariffVersion
from tests.cms.notices import beijing, notice_publish
from tests.factories import PASSWORD, ServiceAccountFactory, StaffUserFactory, totp_enrol

pytestmark = pytest.mark.django_db

D = Decimal
SHORTCUTS_OF_0002 = ["缴纳电费", "我的户号", "业务办理", "停电公告", "故障报修", "服务指南"]


@pytest.fixture(autouse=True)
def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def home() -> HomePage:
    return HomePage.objects.get()


def html(client, path: str, **params) -> BeautifulSoup:
    response = client.get(path, params)
    assert response.status_code == 200, path
    return BeautifulSoup(response.content, "html.parser")


def text(soup: BeautifulSoup) -> str:
    return " ".join(soup.get_text(" ").split())


def publish(parent: Page, page: Page) -> Page:
    parent.add_child(instance=page)
    page.save_revision().publish()
    page.refresh_from_db()
    return page


def admin_sign_in(client, totp_code):
    user = StaffUserFactory(is_superuser=True)
    secret = totp_enrol(user)
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    return user


# --- The home page --------------------------------------------------------------------------------
def test_migrate_carries_the_shortcuts_into_the_home_page_blocks(client, home):
    blocks = [block.block_type for block in home.body]
    assert blocks == ["shortcuts", "latest_notices", "notice_search"]

    tiles = html(client, "/").select(".tile__link")
    assert [tile.select_one(".tile__title").get_text() for tile in tiles] == SHORTCUTS_OF_0002
    links = {tile.select_one(".tile__title").get_text(): tile["href"] for tile in tiles}
    # The guide tile pointed at the home page; it now opens the service commitments.
    assert links["服务指南"] == "/commitments/"
    assert links["停电公告"] == "/notices/"


def test_the_latest_notices_block_lists_the_newest_live_notices(client, home):
    for day in range(1, 8):
        with time_machine.travel(beijing(2026, 12, day, 9, 0), tick=False):
            notice_publish(title=f"公告 {day}", kind="general")
    index = NoticeIndexPage.objects.get()
    index.add_child(instance=NoticePage(title="未发布的草稿", live=False))

    page = html(client, "/")
    notices = page.select(".notice-list li a strong")
    assert [n.get_text() for n in notices] == ["公告 7", "公告 6", "公告 5", "公告 4", "公告 3"]
    assert "未发布的草稿" not in text(page)
    assert page.find("a", string=lambda s: s and "All notices" in s)["href"] == "/notices/"

    # Editors choose how many.
    home.body = [
        block | {"value": block["value"] | {"count": 2}}
        if block["type"] == "latest_notices"
        else block
        for block in home.body.raw_data
    ]
    home.save_revision().publish()
    shown = [n.get_text() for n in html(client, "/").select(".notice-list li a strong")]
    assert shown == ["公告 7", "公告 6"]


def test_the_notice_search_offers_the_districts_the_accounts_carry(client):
    ServiceAccountFactory(district="浦东新区", feeder="张江 1号线")
    ServiceAccountFactory(district="静安区", feeder="静安 3号线")

    form = html(client, "/").find("form", attrs={"role": "search", "action": "/notices/"})
    assert form["method"] == "get"
    options = [o["value"] for o in form.select("select[name=district] option") if o["value"]]
    assert options == ["浦东新区", "静安区"]

    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        notice_publish(
            title="浦东新区计划停电",
            districts=["浦东新区"],
            starts_at=beijing(2026, 12, 10, 8, 0),
            ends_at=beijing(2026, 12, 10, 17, 0),
        )
    # What the form sends finds the district's notices.
    assert "浦东新区计划停电" in text(html(client, "/notices/", district="浦东新区"))
    assert "浦东新区计划停电" not in text(html(client, "/notices/", district="静安区"))


def test_the_hotline_comes_from_the_site_settings(client, home, django_capture_on_commit_callbacks):
    def shown() -> set[str]:
        page = html(client, "/")
        return {a.get_text(strip=True) for a in page.select("a[href^='tel:']")}

    assert shown() == {"95598"}  # nothing set: the portal's own setting
    with django_capture_on_commit_callbacks(execute=True):
        ServiceSettings.objects.create(site=Site.objects.get(is_default_site=True), hotline="96789")
    assert shown() == {"96789"}  # header, hero and footer alike
    assert "96789" in text(html(client, "/accounts/login/"))  # pages outside Wagtail too

    # A hotline block shows the same number.
    home.body = [*home.body.raw_data, {"type": "hotline", "value": {"heading": "", "text": ""}}]
    home.save_revision().publish()
    page = html(client, "/")
    block = next(s for s in page.select("main section.card") if "Power cut" in text(s))
    assert block.select_one("a[href^='tel:']").get_text(strip=True) == "96789"

    with django_capture_on_commit_callbacks(execute=True):
        settings_row = ServiceSettings.objects.get()
        settings_row.hotline = ""
        settings_row.save()
    assert shown() == {"95598"}


def test_an_editor_changes_the_hotline_in_the_admin_and_every_page_shows_it_at_once(
    client, totp_code, django_capture_on_commit_callbacks
):
    admin_sign_in(client, totp_code)
    site = Site.objects.get(is_default_site=True)
    url = f"/cms-admin/settings/cms/servicesettings/{site.pk}/"
    assert client.get(url).status_code == 200
    refused = client.post(url, {"hotline": "call us"})
    assert b"Digits only" in refused.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"hotline": "400-800-9559"})
    assert response.status_code == 302
    client.logout()
    assert "400-800-9559" in text(html(client, "/"))
    assert "400-800-9559" in text(html(client, "/notices/"))


def test_the_home_page_stays_within_its_query_budget(client, django_assert_max_num_queries):
    for n in range(30):
        ServiceAccountFactory(district=f"区 {n % 6}")
    with time_machine.travel(beijing(2026, 12, 1, 9, 0), tick=False):
        for n in range(12):
            notice_publish(title=f"公告 {n}", kind="general")
    ServiceSettings.objects.create(site=Site.objects.get(is_default_site=True), hotline="96789")
    client.get("/")  # fills the caches (site root paths, districts, hotline)
    # Wagtail's four for serving a page (the site, the page, its ancestors' view restrictions),
    # two for its localisation (the reader's locale, the home page in it), one for the page's
    # English translation and one for the notices, one for their translations (the visitor
    # reads English): the districts and the hotline come from the cache.
    with django_assert_max_num_queries(9):
        response = client.get("/")
    assert response.status_code == 200 and "公告 11" in response.content.decode()


# --- Service commitments --------------------------------------------------------------------------
def test_the_commitments_page_shows_the_set_the_clocks_count_against(client, settings):
    settings.COMMITMENT_RULE_SET = "sgcc-2023"
    page = html(client, "/commitments/")
    facts = text(page.select_one(".facts"))
    assert "国家电网公司 State Grid" in facts
    assert "供电服务承诺（2023 年版）" in facts
    assert "2023-01-01" in facts

    titles = [h.get_text() for h in page.select("h2.section-title")]
    assert titles == [
        "New connections and capacity changes",
        "Outages, disconnection and reconnection",
        "Fault repair",
        "Meters and readings",
    ]
    rows = _commitment_rows(page)
    whole = rule_for(commitment="new_connection", customer_class="residential")
    assert rows["Whole new connection (the company's own stages)"] == [
        ("Residential", f"{whole.amount} working days (the company's own stages added up)"),
        ("Low-voltage business", "6 working days (the company's own stages added up)"),
        ("High-voltage, single supply", "22 working days (the company's own stages added up)"),
        ("High-voltage, dual supply", "32 working days (the company's own stages added up)"),
    ]
    assert rows["Planned outage announced ahead"] == [("All customers", "7 days")]
    assert rows["Fault repair arrival, urban"] == [("All customers", "45 minutes (on average)")]
    assert rows["Supply restored after a fault, urban"] == [
        ("All customers", "3 hours (on average)")
    ]


def test_a_changed_rule_or_another_set_shows_on_the_commitments_page(client, settings):
    # Rows changed behind the models' backs (update()) and a setting changed in place send no
    # signal to the anonymous page cache: render every read (tests/cms/test_page_cache.py).
    settings.PAGE_CACHE_SECONDS = 0
    settings.COMMITMENT_RULE_SET = "sgcc-2023"
    CommitmentRule.objects.filter(
        rule_set__code="sgcc-2023", commitment="planned_outage_notice"
    ).update(amount=1)
    rows = _commitment_rows(html(client, "/commitments/"))
    assert rows["Planned outage announced ahead"] == [("All customers", "1 day")]
    assert rule_for(commitment="planned_outage_notice").amount == 1

    settings.COMMITMENT_RULE_SET = "sgcc-2011"
    page = html(client, "/commitments/")
    assert "供电服务承诺（2011 年版）" in text(page.select_one(".facts"))
    rows = _commitment_rows(page)
    # A class's own limit, then the set's limit for everybody else.
    assert rows["Meter installed and energised after the inspection is passed"] == [
        ("Residential", "3 working days"),
        ("Other customers", "5 working days"),
    ]
    assert rows["Complaint: first contact"] == [("All customers", "1 working day")]


def test_without_a_set_in_use_the_commitments_page_says_so(client, settings):
    settings.COMMITMENT_RULE_SET = "no-such-set"
    assert "being updated" in text(html(client, "/commitments/"))


def _commitment_rows(page) -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = {}
    commitment = ""
    for tr in page.select(".commitments-table tbody tr"):
        if tr.th:
            commitment = tr.th.get_text(strip=True)
        cells = [" ".join(td.get_text(" ").split()) for td in tr.find_all("td")]
        rows.setdefault(commitment, []).append(tuple(cells))
    return rows


# --- Tariffs --------------------------------------------------------------------------------------
@pytest.fixture
def tariffs():
    tiered = Tariff.objects.create(
        code="RES-TIER-M", name="居民阶梯电价（月度）", kind="tiered", region="北京",
        customer_class="residential",
    )  # fmt: skip
    for day, price in ((date(2024, 1, 1), "0.4883"), (date(2026, 1, 1), "0.4983")):
        TariffVersion.objects.create(
            tariff=tiered, effective_from=day, unit_price=D(price), tier_period="monthly",
            tier1_limit_kwh=D("240"), tier2_limit_kwh=D("400"), source=f"京发改 {day.year}",
        )  # fmt: skip
    TariffVersion.objects.create(
        tariff=tiered, effective_from=date(2027, 1, 1), unit_price=D("0.5083"),
        tier_period="monthly", tier1_limit_kwh=D("260"), tier2_limit_kwh=D("420"),
    )  # fmt: skip
    tou = Tariff.objects.create(
        code="HV-TOU-10KV", name="大工业分时电价 10kV", kind="time_of_use", region="北京"
    )
    tou_version = TariffVersion.objects.create(tariff=tou, effective_from=date(2024, 1, 1))
    for order, (code, label, price, hours) in enumerate(
        [("peak", "峰", "1.1375", "10:00-15:00"), ("valley", "谷", "0.2935", "23:00-07:00")]
    ):
        TariffBand.objects.create(
            version=tou_version, code=code, label=label, unit_price=D(price), hours=hours,
            sort_order=order,
        )  # fmt: skip
    flat = Tariff.objects.create(
        code="LV-BIZ-FLAT", name="一般工商业单一制", kind="flat", region="上海",
        customer_class="lv_business",
    )  # fmt: skip
    TariffVersion.objects.create(tariff=flat, effective_from=date(2024, 1, 1), unit_price=D("0.69"))
    return tiered


def test_the_tariffs_page_shows_each_regions_prices_in_force_and_announced(client, tariffs):
    with time_machine.travel(beijing(2026, 6, 1, 9, 0), tick=False):
        page = html(client, "/tariffs/")
    regions = [h.get_text(strip=True) for h in page.select("h2.section-title")]
    assert regions == ["上海", "北京"]
    beijing_section = page.select("section.section")[1]
    cards = beijing_section.select("article.tariff")
    assert [c.h3.get_text() for c in cards] == ["居民阶梯电价（月度）", "大工业分时电价 10kV"]

    tiered = cards[0]
    headings = [h.get_text(strip=True) for h in tiered.select("h4")]
    assert headings == ["In force since 2026-01-01", "From 2027-01-01 (announced)"]
    now, announced = (
        [[c.get_text(" ", strip=True) for c in tr.find_all(["th", "td"])] for tr in t.tbody("tr")]
        for t in tiered.select("table")
    )
    assert now == [
        ["1", "up to 240 kWh", "0.4983"],
        ["2", "above 240 up to 400 kWh", "0.5483"],
        ["3", "above 400 kWh", "0.7983"],
    ]
    assert announced[0] == ["1", "up to 260 kWh", "0.5083"]
    assert "Price notice: 京发改 2026" in text(tiered)
    assert "0.4883" not in text(page)  # the version no longer in force

    bands = [[c.get_text(strip=True) for c in tr("td")] for tr in cards[1].tbody("tr")]
    assert bands == [["10:00-15:00", "1.1375"], ["23:00-07:00", "0.2935"]]
    assert "0.69 yuan/kWh" in text(page.select("section.section")[0])


def test_a_new_price_shows_on_the_tariffs_page_from_its_date(client, tariffs):
    TariffVersion.objects.filter(tariff=tariffs, effective_from=date(2026, 1, 1)).update(
        unit_price=D("0.5012")
    )
    with time_machine.travel(beijing(2026, 12, 31, 9, 0), tick=False):
        assert "0.5012" in text(html(client, "/tariffs/"))
    with time_machine.travel(beijing(2027, 1, 1, 9, 0), tick=False):
        page = html(client, "/tariffs/")
    assert "0.5012" not in text(page)
    assert "In force since 2027-01-01" in text(page) and "0.5083" in text(page)


# --- Guides, FAQ, standard pages ------------------------------------------------------------------
def test_a_guide_lists_the_documents_the_application_asks_for(client, home):
    guide = publish(
        home,
        GuidePage(
            title="新装用电办理指南",
            slug="new-connection-guide",
            body=[
                {"type": "paragraph", "value": "<p>如何申请新装用电。</p>"},
                {"type": "documents", "value": {"category": "new_connection", "heading": ""}},
            ],
        ),
    )
    page = html(client, guide.url)
    groups = _document_groups(page)
    assert groups["Residential"] == [
        "Identity document of the applicant",
        "Proof of ownership or use of the premises",
        "Letter of authorisation (when someone applies for you) (if it applies)",
    ]
    assert "Business licence" in groups["Low-voltage business"]
    # Two classes asking the same documents share one list.
    assert (
        "Site plan of the premises"
        in groups["High-voltage, single supply, High-voltage, dual supply"]
    )
    start = page.find("a", string=lambda s: s and "Apply online" in s)["href"]
    assert start == "/me/applications/new/?kind=new_connection&customer_class=residential"

    version = kind_versions_current()["new_connection"]
    KindDocument.objects.create(
        version=version,
        document="settlement_proof",
        customer_classes=["residential"],
        required=True,
    )
    assert (
        "Proof that the bills are settled"
        in _document_groups(html(client, guide.url))["Residential"]
    )

    for kind in ApplicationKind.objects.filter(category="new_connection"):  # as the admin does
        kind.active = False
        kind.save()
    assert "cannot be made online" in text(html(client, guide.url))


def _document_groups(page) -> dict[str, list[str]]:
    return {
        h3.get_text(strip=True): [
            " ".join(li.get_text(" ").split()) for li in h3.find_next("ul").find_all("li")
        ]
        for h3 in page.select(".card h3.subsection-title")
    }


def test_an_faq_answers_in_details_and_tells_search_engines(client, home):
    faq = publish(
        home,
        FaqPage(
            title="常见问题",
            slug="faq",
            body=[
                {"type": "heading", "value": "缴费"},
                {
                    "type": "question",
                    "value": {
                        "question": "如何在线缴费？",
                        "answer": "<p>登录后进入“缴纳电费”。</p>",
                    },
                },
                {
                    "type": "question",
                    "value": {"question": "</script><b>x</b>", "answer": "<p>a & b</p>"},
                },
            ],
        ),
    )
    response = client.get(faq.url)
    page = BeautifulSoup(response.content, "html.parser")
    questions = page.select("details.details")
    assert [d.summary.get_text() for d in questions] == ["如何在线缴费？", "</script><b>x</b>"]
    assert "登录后进入“缴纳电费”。" in questions[0].get_text()

    scripts = page.select('script[type="application/ld+json"]')
    assert len(scripts) == 1  # the question's "</script>" did not end it early
    data = json.loads(scripts[0].string)
    assert data["@type"] == "FAQPage"
    assert [q["name"] for q in data["mainEntity"]] == ["如何在线缴费？", "</script><b>x</b>"]
    assert data["mainEntity"][0]["acceptedAnswer"]["text"] == "<p>登录后进入“缴纳电费”。</p>"


def test_a_standard_page_renders_its_blocks_and_lists_the_pages_under_it(client, home):
    image = Image.objects.create(
        title="营业厅", file=ImageFile(get_test_image_file().file, name="hall.png")
    )
    figure = {"image": image.pk, "alt_text": "营业厅", "decorative": False}
    section = publish(
        home,
        StandardPage(
            title="服务指南",
            slug="guides",
            intro="<p>办事前请先阅读。</p>",
            body=[
                {"type": "heading", "value": "营业时间"},
                {"type": "paragraph", "value": "<p>周一至周五 9:00-17:00</p>"},
                {"type": "image", "value": {"image": figure, "caption": "东城营业厅"}},
                {"type": "hotline", "value": {"heading": "有问题？", "text": "请拨打"}},
            ],
        ),
    )  # fmt: skip
    publish(section, GuidePage(title="过户办理指南", slug="transfer"))
    section.add_child(instance=FaqPage(title="草稿问答", slug="draft-faq", live=False))

    page = html(client, section.url)
    body = text(page)
    for shown in (
        "办事前请先阅读。",
        "营业时间",
        "周一至周五 9:00-17:00",
        "东城营业厅",
        "有问题？",
    ):
        assert shown in body
    assert page.select_one("figure img")["alt"] == "营业厅"
    assert page.select_one("section.card a[href^='tel:']").get_text(strip=True) == "95598"
    children = [a.get_text(strip=True) for a in page.select(".link-list a")]
    assert children == ["过户办理指南"]
    assert html(client, "/guides/transfer/").h1.get_text() == "过户办理指南"


# --- The tree editors may build -------------------------------------------------------------------
def test_the_page_tree_rules(home):
    notices = NoticeIndexPage.objects.get()
    standard = home.add_child(instance=StandardPage(title="关于我们", slug="about"))
    guide = standard.add_child(instance=GuidePage(title="指南", slug="guide"))

    # One commitments page and one tariffs page, under the home page (made by migration).
    assert CommitmentsPage.objects.count() == 1 and TariffsPage.objects.count() == 1
    for model in (CommitmentsPage, TariffsPage, NoticeIndexPage, HomePage):
        assert not model.can_create_at(home)
    assert not CommitmentsPage.can_create_at(standard)
    CommitmentsPage.objects.get().delete()
    assert CommitmentsPage.can_create_at(home)
    assert not CommitmentsPage.can_create_at(standard)

    for model in (GuidePage, FaqPage, StandardPage):
        assert model.can_create_at(home) and model.can_create_at(standard)
        assert not model.can_create_at(notices) and not model.can_create_at(guide)
    assert not NoticePage.can_create_at(home) and NoticePage.can_create_at(notices)
    assert set(home.specific_class.allowed_subpage_models()) == {
        NoticeIndexPage, CommitmentsPage, TariffsPage, GuidePage, FaqPage, StandardPage
    }  # fmt: skip
    assert GuidePage.allowed_subpage_models() == []
    assert not HomePage.can_create_at(standard) and not HomePage.can_create_at(
        Page.get_first_root_node()
    )


def test_an_editor_is_offered_only_the_pages_the_tree_allows(client, totp_code, home):
    admin_sign_in(client, totp_code)
    standard = home.add_child(instance=StandardPage(title="关于我们", slug="about"))

    def offered(parent) -> set[str]:
        response = client.get(f"/cms-admin/pages/{parent.pk}/add_subpage/")
        page = BeautifulSoup(response.content, "html.parser")
        return {a["href"].split("/")[5] for a in page.select("a[href*='/pages/add/cms/']")}

    assert offered(home) == {"guidepage", "faqpage", "standardpage"}
    assert offered(standard) == {"guidepage", "faqpage", "standardpage"}
    # A second tariffs page is refused even by its address.
    refused = client.get(f"/cms-admin/pages/add/cms/tariffspage/{home.pk}/")
    assert refused.status_code == 302 and TariffsPage.objects.count() == 1


def test_an_editor_opens_every_kind_of_page_in_the_admin(client, totp_code, home):
    admin_sign_in(client, totp_code)
    standard = home.add_child(instance=StandardPage(title="关于我们", slug="about"))
    for model in (GuidePage, FaqPage, StandardPage):
        add = client.get(f"/cms-admin/pages/add/cms/{model._meta.model_name}/{standard.pk}/")
        assert add.status_code == 200, model
    for page in (home, CommitmentsPage.objects.get(), TariffsPage.objects.get(), standard):
        assert client.get(f"/cms-admin/pages/{page.pk}/edit/").status_code == 200, page


def test_the_footer_links_the_commitments_and_tariffs_pages(client):
    footer = html(client, "/notices/").select_one(".site-footer__nav")
    links = {a.get_text(strip=True): a["href"] for a in footer.select("a")}
    assert links["Service commitments"] == "/commitments/" and links["Tariffs"] == "/tariffs/"
    for path in links.values():
        assert client.get(path).status_code == 200


# --- migrate on an existing database --------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_migrate_on_a_database_with_edited_shortcuts_keeps_them(client):
    executor = MigrationExecutor(connection)
    executor.migrate([("cms", "0004_notice_index")])
    old = executor.loader.project_state(("cms", "0004_notice_index")).apps
    home = old.get_model("cms", "HomePage").objects.get()
    shortcut = old.get_model("cms", "HomeShortcut")
    shortcut.objects.filter(page=home).delete()
    shortcut.objects.create(page=home, sort_order=1, title="查账单", link_url="/pay/", icon="pay")
    shortcut.objects.create(page=home, sort_order=0, title="服务指南", link_url="/", icon="help")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    tiles = html(client, "/").select(".tile__link")
    assert [(t.select_one(".tile__title").get_text(), t["href"]) for t in tiles] == [
        ("服务指南", "/commitments/"),
        ("查账单", "/pay/"),
    ]
    assert html(client, "/commitments/").h1.get_text() == "服务承诺"
    assert html(client, "/tariffs/").h1.get_text() == "电价标准"
