"""The demo site for `make run` (registered as a ``seed_demo`` seeder by cms/hooks.py): notices,
guides, an FAQ and two standard pages, in Chinese, written the way a supply company's site reads.

- **A dozen live notices** across the five districts the demo accounts are in, on their feeders:
  four planned outages still to come, one past; two faults, over; a tariff change; four general
  notices. Two of the planned outages cut off the demo resident's accounts (望京 112 线, home, 9
  days ahead; 展览路 205 线, the parents', 4 days ahead, so it carries the editor's reason for the
  short notice and the admin's notices list flags it): the resident's dashboard shows them, and
  their e-mail and text message are in var/mail/ and var/sms/ like any other notification. The
  others name feeders nobody in the demo has bound, or are over, and tell nobody.
- **One notice awaiting review**: an editor's planned outage of the organisation's park in 海淀区,
  submitted to "Editorial review", for the demo reviewer to approve (which tells the demo
  business administrator and member).
- **Pages**: "服务指南" (/guides/) holding three guides (a new connection, with the documents
  the application asks for; paying; binding an account) and the FAQ; "关于我们" (/about/) and
  "服务渠道" (/service-channels/). The home page's "服务指南" tile is pointed at /guides/.
- **English translations** (their words in cms/demo_english.py) of the home page, the notice
  index, four notices (the two outages that reach the resident among them), the guides section,
  its guides and FAQ, and the commitments and tariffs pages: made as an editor does with
  "Translate" (Wagtail's copy for translation, the Chinese page's facts and address kept), then
  written in English and published. The other pages are read in Chinese, with the note that they
  are not translated yet.

Everything is published through Wagtail's revisions (written by the demo editor, published by
the demo reviewer), so the history, the search index and the feeds are what an editor's work
leaves behind. Idempotent: a page is made only if its slug is not taken under its parent, a
translation only if the page has none in English yet (a draft included: someone's work). A demo
database kept for weeks still shows outages to come: once the two that reach the resident are
over, a run moves them forward again (a new revision, published, as an editor would announce the
next maintenance), which tells the resident again.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from wagtail.actions.copy_for_translation import CopyPageForTranslationAction
from wagtail.models import Locale, Page, Site

from portal.core import clock
from portal.models import User

from . import demo_english
from .models import (
    CommitmentsPage,
    FaqPage,
    GuidePage,
    HomePage,
    NoticeIndexPage,
    NoticeKind,
    NoticePage,
    StandardPage,
    TariffsPage,
)
from .reach import outage_is_over

EDITOR = "editor@demo.powerhall.cn"
REVIEWER = "reviewer@demo.powerhall.cn"
GUIDES_SLUG = "guides"
GUIDE_TILE_ICON, COMMITMENTS_URL = "help", "/commitments/"
# Loggers that report each publication and fan-out at INFO, for operators; the demo prints one
# line of its own instead.
QUIET_LOGGERS = ("wagtail", "powerhall.cms")


# --- Notices ------------------------------------------------------------------------------------
Moment = tuple[int, str]
"""(days from today, "HH:MM" Beijing time)."""


@dataclass(frozen=True)
class DemoNotice:
    slug: str
    title: str
    kind: str
    reason: str
    body: str
    districts: list[str] = field(default_factory=list)
    feeders: list[str] = field(default_factory=list)
    starts: Moment | None = None
    ends: Moment | None = None
    published: Moment | date | None = None  # None: now
    short_notice_reason: str = ""
    keep_ahead: bool = False  # moved forward once over (the outages that reach the resident)


def _at(moment: Moment | date, today: date) -> datetime:
    if isinstance(moment, date):
        return clock.day_start(moment) + timedelta(hours=10)
    days, hhmm = moment
    return datetime.combine(
        today + timedelta(days=days), time.fromisoformat(hhmm), tzinfo=clock.BUSINESS_TIME_ZONE
    )


PREPARE = (
    "<p>请受影响的客户提前做好停电准备：关闭家用电器电源，妥善存放冰箱内的食品，电梯、二次供水、"
    "医疗设备等请提前做好应急安排。停电期间请勿靠近、攀爬电力设施，线路随时可能恢复送电，一律视为"
    "带电。</p>"
    "<p>如遇雨雪、大风等恶劣天气，工作将顺延；工作提前完成的，将提前恢复送电，恕不另行通知。由此给"
    "您带来的不便，敬请谅解。</p>"
)

NOTICES = [
    DemoNotice(
        slug="wangjing-112-maintenance",
        title="朝阳区望京西园一带计划停电检修通知",
        kind=NoticeKind.PLANNED_OUTAGE,
        districts=["朝阳区"],
        feeders=["望京 112 线"],
        starts=(9, "08:30"),
        ends=(9, "17:30"),
        reason="10kV 望京 112 线开关柜更换及线路检修",
        body=(
            "<p>为提高供电可靠性，我公司将对 10kV 望京 112 线进行开关柜更换及线路检修，检修期间该"
            "线路停电。</p>"
            "<p><b>停电范围：</b>望京西园三区、望京西园四区，望京街沿线部分商户。</p>" + PREPARE
        ),
        keep_ahead=True,
    ),
    DemoNotice(
        slug="zhanlanlu-205-cable-relocation",
        title="西城区百万庄地区临时计划停电通知",
        kind=NoticeKind.PLANNED_OUTAGE,
        districts=["西城区"],
        feeders=["展览路 205 线"],
        starts=(4, "09:00"),
        ends=(4, "15:00"),
        reason="配合百万庄大街市政管线改造迁移电缆",
        short_notice_reason=(
            "百万庄大街燃气管线改造由市政部门统一安排，施工单位本周才确定迁移电缆的工期，无法提前 "
            "7 天公告。已请街道办事处和物业张贴告示，并电话通知了重要客户。"
        ),
        body=(
            "<p>百万庄大街燃气管线改造需迁移 10kV 展览路 205 线的一段电缆，迁移期间该线路停电。</p>"
            "<p><b>停电范围：</b>百万庄大街 22 号院、24 号院，展览路北段沿线部分单位。</p>"
            + PREPARE
        ),
        keep_ahead=True,
    ),
    DemoNotice(
        slug="xueyuanlu-318-upgrade",
        title="海淀区学院路部分小区计划停电通知",
        kind=NoticeKind.PLANNED_OUTAGE,
        districts=["海淀区"],
        feeders=["学院路 318 线"],
        starts=(14, "08:00"),
        ends=(14, "18:00"),
        reason="10kV 学院路 318 线配电变压器增容改造",
        published=(-1, "10:00"),
        body=(
            "<p>学院路 30 号院一带用电负荷逐年增长，我公司将为 10kV 学院路 318 线更换一台容量更大"
            "的配电变压器，施工期间该线路停电。</p>"
            "<p><b>停电范围：</b>学院路 30 号院、学院路 32 号院。</p>" + PREPARE
        ),
    ),
    DemoNotice(
        slug="fangzhuang-221-insulation",
        title="丰台区方庄地区计划停电通知",
        kind=NoticeKind.PLANNED_OUTAGE,
        districts=["丰台区"],
        feeders=["方庄 221 线"],
        starts=(20, "07:30"),
        ends=(20, "12:30"),
        reason="10kV 方庄 221 线架空线路绝缘化改造",
        published=(-2, "15:30"),
        body=(
            "<p>为减少树木、异物碰线造成的停电，我公司将把 10kV 方庄 221 线的裸导线更换为绝缘"
            "导线，施工期间该线路停电。</p>"
            "<p><b>停电范围：</b>芳城园一区、芳城园二区，方庄南路沿线部分商户。</p>" + PREPARE
        ),
    ),
    DemoNotice(
        slug="dongcheng-park-102-tests",
        title="东城区示例产业园计划停电通知",
        kind=NoticeKind.PLANNED_OUTAGE,
        districts=["东城区"],
        feeders=["园区 102 线"],
        starts=(-20, "08:00"),
        ends=(-20, "16:00"),
        reason="园区配电室设备年度预防性试验",
        published=(-30, "09:30"),
        body=(
            "<p>按年度计划，我公司将对东城区示例产业园配电室的变压器、开关柜等设备进行预防性试验，"
            "试验期间 10kV 园区 102 线停电。</p>"
            "<p>请园区内企业提前安排生产，做好数据备份；自备发电机的客户，请严格执行操作规程，严禁"
            "向电网倒送电。</p>"
        ),
    ),
    DemoNotice(
        slug="wangjing-112-cable-fault",
        title="朝阳区望京地区故障停电通知",
        kind=NoticeKind.FAULT_OUTAGE,
        districts=["朝阳区"],
        feeders=["望京 112 线"],
        starts=(-6, "19:42"),
        ends=(-6, "22:15"),
        reason="10kV 电缆中间接头故障",
        published=(-6, "20:05"),
        body=(
            "<p>19:42，10kV 望京 112 线一处电缆中间接头发生故障，线路跳闸，望京西园三区、四区停电。"
            "抢修人员已到达现场，正在隔离故障区段。</p>"
            "<p><b>更新：</b>22:15 已通过联络线路恢复全部客户供电，故障电缆将择期更换。感谢您的耐心"
            "等待。</p>"
        ),
    ),
    DemoNotice(
        slug="xueyuanlu-318-external-damage",
        title="海淀区学院路地区故障停电通知",
        kind=NoticeKind.FAULT_OUTAGE,
        districts=["海淀区"],
        feeders=["学院路 318 线"],
        starts=(-2, "14:10"),
        ends=(-2, "16:40"),
        reason="施工机械碰触架空线路导致跳闸",
        published=(-2, "14:30"),
        body=(
            "<p>14:10，学院路附近一处工地的吊车碰触 10kV 学院路 318 线，线路跳闸停电。抢修人员正在"
            "检查线路。</p>"
            "<p><b>更新：</b>16:40 已恢复送电。在电力线路附近施工，请事先与我公司联系，保持安全"
            "距离。</p>"
        ),
    ),
    DemoNotice(
        slug="residential-tariff-2026",
        title="关于调整居民阶梯电价的公告",
        kind=NoticeKind.TARIFF_CHANGE,
        reason="",
        published=date(2025, 12, 10),
        body=(
            "<p>经价格主管部门批复，自 2026 年 1 月 1 日起调整居民生活用电价格，阶梯分档电量不变："
            "</p>"
            "<ul><li>北京（按月）：第一档（每月 240 千瓦时及以下）由每千瓦时 0.4883 元"
            "调整为 0.4983 元；第二档（241 至 400 千瓦时）加价 0.05 元，为 0.5483 元；"
            "第三档（400 千瓦时以上）加价 0.30 元，为 0.7983 元。</li>"
            "<li>上海（按年）：第一档（每年 3120 千瓦时及以下）由每千瓦时 0.6170 元调整为 0.6270 "
            "元，第二档（3121 至 4800 千瓦时）和第三档（4800 千瓦时以上）的加价不变。</li></ul>"
            "<p>2026 年 1 月 1 日之前的用电仍按原电价计算；跨越调价日的账单按天数分段计价。现行和"
            '已公布的电价见<a href="/tariffs/">电价标准</a>。</p>'
            "<p>（本网站为演示站点，以上为演示数据，非官方电价。）</p>"
        ),
    ),
    DemoNotice(
        slug="fraud-warning",
        title="关于防范冒充供电公司工作人员诈骗的提示",
        kind=NoticeKind.GENERAL,
        reason="",
        published=(-12, "11:00"),
        body=(
            "<p>近期有不法分子冒充供电公司工作人员，以“电费欠费即将停电”“电表需要升级收费”"
            "“退还多缴电费”等名义，通过电话、短信诱导客户转账或点击链接。请广大客户提高警惕：</p>"
            "<ul><li>我公司不会通过电话、短信要求您向个人账户转账，也不会索要银行卡密码和验证码；"
            "</li><li>在线缴费请认准网上营业厅的缴费页面，缴费后的电子凭证可扫描二维码核验真伪；"
            "</li><li>欠费停电前，我公司会按规定书面通知，不会临时电话催缴后立即停电；</li>"
            "<li>如有疑问，请拨打 95598 供电服务热线核实。</li></ul>"
        ),
    ),
    DemoNotice(
        slug="online-applications",
        title="新装、增容等用电业务可在网上营业厅办理",
        kind=NoticeKind.GENERAL,
        reason="",
        published=(-45, "09:00"),
        body=(
            "<p>即日起，居民和企业客户可在网上营业厅办理新装用电、增容减容、更名过户、暂停、销户、"
            "电能表校验等业务，全程网上提交资料，无需往返营业厅。</p>"
            "<p>开始申请前，页面会一次性列出所需的全部资料；提交后可随时查看办理环节、每一环节的办理"
            '期限和历史记录。办理方法见<a href="/guides/new-connection/">新装用电办理指南</a>。</p>'
        ),
    ),
    DemoNotice(
        slug="smart-meter-replacement",
        title="关于开展智能电能表轮换工作的通知",
        kind=NoticeKind.GENERAL,
        districts=["海淀区", "朝阳区"],
        reason="",
        published=(-25, "10:30"),
        body=(
            "<p>按照电能计量器具周期检定的规定，我公司将在今后两个月内对海淀区、朝阳区部分小区运行"
            "年限较长的电能表进行免费轮换。</p>"
            "<ul><li>换表由我公司工作人员上门进行，工作人员佩戴工作证，不收取任何费用；</li>"
            "<li>换表时停电约 10 分钟，新旧电能表的读数将拍照留存，并在换表单上请您签字确认；</li>"
            "<li>旧表的电量计入当月电费，不会重复计费。</li></ul>"
            "<p>如对读数有疑问，可在网上营业厅申请电能表校验，或拨打 95598。</p>"
        ),
    ),
    DemoNotice(
        slug="weekend-service-hours",
        title="关于营业厅周末服务时间的通知",
        kind=NoticeKind.GENERAL,
        reason="",
        published=(-8, "16:00"),
        body=(
            "<p>为方便上班族办理业务，自下周起，各营业厅周六照常营业（09:00–17:00），周日及法定节假日"
            "休息。工作日营业时间不变（08:30–17:30）。</p>"
            '<p>营业厅地址见<a href="/service-channels/">服务渠道</a>。缴费、绑定户号、业务申请'
            "和进度查询也可随时在网上营业厅办理。</p>"
        ),
    ),
]

AWAITING_REVIEW = DemoNotice(
    slug="haidian-park-switching-station",
    title="海淀区示例产业园计划停电通知",
    kind=NoticeKind.PLANNED_OUTAGE,
    districts=["海淀区"],
    feeders=["园区 101 线", "园区 105 线"],
    starts=(16, "08:00"),
    ends=(16, "14:00"),
    reason="园区 10kV 开闭站设备检修",
    body=(
        "<p>我公司将对海淀区示例产业园 10kV 开闭站进行设备检修，检修期间园区 101 线、105 线"
        "停电。</p>"
        "<p><b>停电范围：</b>海淀区示例产业园 1 号楼、5 号楼。</p>"
        "<p>请园区企业提前安排生产，做好数据备份；自备发电机的客户，严禁向电网倒送电。</p>"
    ),
)


# --- Pages --------------------------------------------------------------------------------------
def _text(html: str) -> dict:
    return {"type": "paragraph", "value": html}


def _heading(text: str) -> dict:
    return {"type": "heading", "value": text}


HOTLINE = {"type": "hotline", "value": {"heading": "", "text": ""}}


def _guides_section() -> dict:
    return {
        "title": "服务指南",
        "slug": GUIDES_SLUG,
        "intro": "<p>办理用电业务前，先看这里：怎样申请、准备什么资料、怎样缴费和绑定户号。</p>",
        "body": [
            _text(
                "<p>办理时限以我公司公布的"
                f'<a href="{COMMITMENTS_URL}">服务承诺</a>为准；电价见'
                '<a href="/tariffs/">电价标准</a>；停电信息见'
                '<a href="/notices/">通知公告</a>，可按区县订阅。</p>'
            )
        ],
    }


def _guide_new_connection() -> dict:
    return {
        "title": "新装用电办理指南",
        "slug": "new-connection",
        "intro": (
            "<p>居民和企业新装用电，可以在网上营业厅申请，也可以到营业厅办理，或拨打 95598 由"
            "工作人员代为登记。</p>"
        ),
        "body": [
            _heading("办理流程"),
            _text(
                "<ol><li><b>提交申请：</b>在网上营业厅选择“新装”和用电类别，按提示填写地址、"
                "用电容量，上传资料后提交。</li>"
                "<li><b>受理和现场勘查：</b>我公司受理后，与您约定时间到现场勘查。</li>"
                "<li><b>答复供电方案：</b>告知供电电源、计量方式和工程安排。</li>"
                "<li><b>设计审查和中间检查：</b>仅高压客户需要。</li>"
                "<li><b>竣工检验：</b>您的内部工程完工后，我公司上门检验。</li>"
                "<li><b>签订合同、装表接电：</b>签订供用电合同后安装电能表并送电。</li></ol>"
                f'<p>每个环节的办理时限见<a href="{COMMITMENTS_URL}">服务承诺</a>；提交后，'
                f'可在<a href="{reverse("applications:list")}">我的业务</a>查看进度和各环节的'
                "期限。</p>"
            ),
            {"type": "documents", "value": {"category": "new_connection", "heading": ""}},
            _heading("注意事项"),
            _text(
                "<ul><li>资料可以是 PDF 文件或清晰的照片，每个文件不超过 10 MB。</li>"
                "<li>代他人申请的，需上传授权委托书。</li>"
                "<li>资料不全的，工作人员会在业务中告诉您还缺什么，补齐前办理时限暂停计算。</li>"
                "</ul>"
            ),
            HOTLINE,
        ],
    }


def _guide_pay() -> dict:
    return {
        "title": "如何缴纳电费",
        "slug": "how-to-pay",
        "intro": "<p>电费账单每月出账，请在账单注明的缴费截止日前缴清。</p>",
        "body": [
            _heading("缴费方式"),
            _text(
                f'<ul><li><b>网上营业厅：</b>登录后进入<a href="{reverse("pay:bills")}">缴纳'
                "电费</a>，勾选一张或多张账单在线支付，可同时缴纳多个户号的电费，缴费后立即"
                "到账。</li>"
                "<li><b>银行代扣：</b>在开户银行签订代扣协议后，每月自动扣缴。</li>"
                "<li><b>营业厅柜台：</b>带上户号或电费账单到任一营业厅缴纳。</li>"
                "<li><b>其他支付平台：</b>通过银行或第三方平台缴纳的，到账时间以该平台为准，一般"
                "次日在网上营业厅显示。</li></ul>"
            ),
            _heading("缴费凭证和发票"),
            _text(
                "<p>每笔在线缴费都有一张电子缴费凭证（PDF），可在缴费记录中下载，扫描凭证上的二维码"
                "可核验真伪。缴费凭证不是增值税发票：需要发票的，可在缴费详情页填写开票信息申请。</p>"
            ),
            _heading("逾期缴费"),
            _text(
                "<p>逾期未缴的，按《供电营业规则》从缴费截止日的次日起每日计收电费违约金：居民客户"
                "每日按欠费金额的千分之一，其他客户当年欠费每日千分之二、跨年度欠费每日千分之三；"
                "合计不足 1 元的按 1 元计收。</p>"
            ),
            _heading("企业客户"),
            _text(
                "<p>企业的管理员可以缴纳本企业所有户号的电费，也可以授权成员缴纳指定户号的电费。"
                "</p>"
            ),
        ],
    }


def _guide_bind() -> dict:
    return {
        "title": "如何绑定用电户号",
        "slug": "bind-account",
        "intro": (
            "<p>绑定户号后，可以在网上营业厅查看账单、缴纳电费、办理业务，并收到停电通知。</p>"
        ),
        "body": [
            _heading("准备户号"),
            _text(
                "<p>户号印在电费账单和缴费凭证上。一个账号可以绑定多个户号，比如自家和父母家。</p>"
            ),
            _heading("证明这是您的户号"),
            _text(
                f'<p>登录后进入<a href="{reverse("me:bind")}">绑定户号</a>，输入户号，任选一种方式'
                "证明：</p>"
                "<ul><li>户主姓名和电能表表号的后 4 位（表号印在电能表上）；</li>"
                "<li>发送到户号登记手机的短信验证码；</li>"
                "<li>发送到户号登记邮箱的验证码；</li>"
                "<li>户主姓名和最近一期电费账单的金额。</li></ul>"
                "<p>为保护客户信息，输错的次数有限制，我们也不会告诉您某个户号是否存在。</p>"
            ),
            _heading("家人一起用"),
            _text(
                "<p>同一个户号可以由几个人分别绑定，每人给它起自己的名字（如“家”“父母家”），互不"
                "影响。解除绑定后立即失效，绑定记录仍可查看。</p>"
            ),
            _heading("企业客户"),
            _text(
                "<p>企业的户号由企业管理员以企业名义绑定，再为成员分配查看、缴费、办理业务的"
                "权限。</p>"
            ),
        ],
    }


FAQ = [
    (
        "停电了，怎样知道是计划停电还是故障停电？",
        '<p>在<a href="/notices/">通知公告</a>按区县查看当前的停电信息。已绑定户号的，首页的户号'
        "卡片会列出该户号当前和即将发生的停电。没有找到相关公告的，请拨打 95598 报修。</p>",
    ),
    (
        "为什么我没有收到停电通知？",
        '<p>停电通知发给绑定了受影响户号的客户。请确认已绑定户号，并在<a href="/me/notifications/">'
        "通知设置</a>中开启了停电通知；短信只发往已验证的手机号。</p>",
    ),
    (
        "户号在哪里查？",
        "<p>户号印在电费账单和缴费凭证上。找不到的，可带上身份证件到营业厅查询，或拨打 95598。</p>",
    ),
    (
        "电费逾期不缴会怎样？",
        "<p>从缴费截止日的次日起每日计收电费违约金，居民客户为欠费金额的千分之一。长期欠费的，"
        '我公司将依法书面通知后中止供电。详见<a href="/guides/how-to-pay/">如何缴纳电费</a>。</p>',
    ),
    (
        "在线缴费后多久到账？",
        "<p>在网上营业厅缴费成功后立即到账，账单状态随即变为已缴。通过银行代扣或其他平台缴纳的，"
        "一般次日显示。</p>",
    ),
    (
        "可以开增值税专用发票吗？",
        "<p>可以。在线缴费成功后，在缴费详情页填写开票信息申请，开具结果会显示在缴费记录中。</p>",
    ),
    (
        "新装用电要多长时间？",
        '<p>各环节的时限见<a href="/commitments/">服务承诺</a>。提交申请后，业务详情页会显示当前'
        "环节及其期限；等待您补充资料的时间不计入办理时限。</p>",
    ),
    (
        "一个户号可以几个人绑定？",
        "<p>可以由多人分别绑定，例如家庭成员各自绑定同一个户号，各自查看账单、缴费和接收停电"
        "通知。</p>",
    ),
]


def _faq() -> dict:
    return {
        "title": "常见问题",
        "slug": "faq",
        "intro": "<p>客户问得最多的问题。没有找到答案的，请拨打 95598。</p>",
        "body": [
            {"type": "question", "value": {"question": question, "answer": answer}}
            for question, answer in FAQ
        ],
    }


def _about() -> dict:
    with translation.override("zh-hans"):
        company = str(settings.COMPANY_NAME)
    return {
        "title": "关于我们",
        "slug": "about",
        "intro": f"<p>{company}负责朝阳、海淀、东城、西城、丰台五个区的供电服务。</p>",
        "body": [
            _text(
                "<p>我们负责辖区内电网的建设、运行和维护，为居民和企业提供新装用电、电费结算、"
                "故障抢修等服务，并向社会公开服务承诺，接受客户监督。</p>"
            ),
            _heading("网上营业厅"),
            _text(
                "<p>在这里，您可以绑定用电户号、查看账单、在线缴费、申请用电业务并查看进度，及时"
                "收到所在线路的停电通知。</p>"
                "<p>（本网站为演示站点，所列企业、地址和数据均为虚构。）</p>"
            ),
        ],
    }


def _service_channels() -> dict:
    return {
        "title": "服务渠道",
        "slug": "service-channels",
        "intro": "<p>网上营业厅、服务热线和营业厅，选您方便的方式。</p>",
        "body": [
            HOTLINE,
            _heading("网上营业厅"),
            _text("<p>全天可用：查账单、缴电费、绑定户号、申请业务、查进度、看停电公告。</p>"),
            _heading("营业厅"),
            _text(
                "<ul><li>朝阳营业厅：朝阳区望京街 9 号（示例地址）</li>"
                "<li>海淀营业厅：海淀区学院路 35 号（示例地址）</li>"
                "<li>西城营业厅：西城区展览路 16 号（示例地址）</li></ul>"
                "<p>营业时间：工作日 08:30–17:30，周六 09:00–17:00；周日及法定节假日休息。</p>"
            ),
        ],
    }


# --- Seeding ------------------------------------------------------------------------------------
@contextmanager
def _quiet() -> Iterator[None]:
    """Leave out the per-page INFO lines of Wagtail and the outage fan-out while seeding."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _child(parent: Page, slug: str) -> Page | None:
    return parent.get_children().filter(slug=slug).specific().first()


def _publish(page: Page, *, editor: User | None, reviewer: User | None) -> None:
    """Saved as a revision by the editor and published by the reviewer, as the workflow would."""
    page.full_clean()
    page.save_revision(user=editor, log_action=True).publish(user=reviewer)


def _notice_times(spec: DemoNotice, today: date) -> dict:
    return {
        "starts_at": _at(spec.starts, today) if spec.starts else None,
        "ends_at": _at(spec.ends, today) if spec.ends else None,
    }


def _new_notice(index: NoticeIndexPage, spec: DemoNotice, *, editor, today) -> NoticePage:
    notice = NoticePage(
        title=spec.title,
        slug=spec.slug,
        kind=spec.kind,
        districts=spec.districts,
        feeders=spec.feeders,
        reason=spec.reason,
        body=spec.body,
        short_notice_reason=spec.short_notice_reason,
        owner=editor,
        live=False,
        # Announced in the past: Wagtail keeps a first publication time the page already has.
        first_published_at=_at(spec.published, today) if spec.published else None,
        **_notice_times(spec, today),
    )
    return index.add_child(instance=notice)


def _notices(index: NoticeIndexPage, *, editor, reviewer, today) -> tuple[int, int]:
    made = moved = 0
    for spec in NOTICES:
        notice = _child(index, spec.slug)
        if notice is None:
            with transaction.atomic():
                notice = _new_notice(index, spec, editor=editor, today=today)
                _publish(notice, editor=editor, reviewer=reviewer)
            made += 1
        elif (
            spec.keep_ahead
            and notice.live
            and not notice.has_unpublished_changes  # someone's draft: left to them
            and outage_is_over(notice, now=clock.now())
        ):
            with transaction.atomic():
                for name, value in _notice_times(spec, today).items():
                    setattr(notice, name, value)
                _publish(notice, editor=editor, reviewer=reviewer)
            moved += 1
    if _child(index, AWAITING_REVIEW.slug) is None:
        with transaction.atomic():
            notice = _new_notice(index, AWAITING_REVIEW, editor=editor, today=today)
            notice.full_clean()
            notice.save_revision(user=editor, log_action=True)
            workflow = notice.get_workflow()
            if workflow is not None:
                workflow.start(notice, user=editor)
        made += 1
    return made, moved


def _pages(home: HomePage, *, editor, reviewer) -> int:
    made = 0
    wanted: list[tuple[Page, type[Page], dict]] = [
        (home, StandardPage, _guides_section()),
        (home, StandardPage, _about()),
        (home, StandardPage, _service_channels()),
    ]
    for parent, model, fields in wanted:
        if _child(parent, fields["slug"]) is None:
            with transaction.atomic():
                page = parent.add_child(instance=model(owner=editor, live=False, **fields))
                _publish(page, editor=editor, reviewer=reviewer)
            made += 1
    guides = _child(home, GUIDES_SLUG)
    if guides is None:
        return made
    for model, fields in (
        (GuidePage, _guide_new_connection()),
        (GuidePage, _guide_pay()),
        (GuidePage, _guide_bind()),
        (FaqPage, _faq()),
    ):
        if _child(guides, fields["slug"]) is None:
            with transaction.atomic():
                page = guides.add_child(instance=model(owner=editor, live=False, **fields))
                _publish(page, editor=editor, reviewer=reviewer)
            made += 1
    return made


def _guide_tile(home: HomePage, *, editor, reviewer) -> bool:
    """Point the home page's "服务指南" tile (migration 0006 aimed it at the commitments) at the
    guides section, which links the commitments, the tariffs and the FAQ. A home page with
    unpublished changes is someone's work in progress: left alone."""
    if home.has_unpublished_changes:
        return False
    stream = list(home.body.raw_data)
    changed = False
    for block in stream:
        if block["type"] != "shortcuts":
            continue
        for tile in block["value"]["shortcuts"]:
            value = tile.get("value", tile)
            if value.get("icon") == GUIDE_TILE_ICON and value.get("link_url") == COMMITMENTS_URL:
                value["link_url"] = f"/{GUIDES_SLUG}/"
                changed = True
    if changed:
        with transaction.atomic():
            home.body = stream
            _publish(home, editor=editor, reviewer=reviewer)
    return changed


def _english_tiles(stream: list[dict]) -> list[dict]:
    """The home page's blocks with the service shortcuts' words in English (the links, icons and
    the other blocks as they are)."""
    for block in stream:
        if block["type"] != "shortcuts":
            continue
        for tile in block["value"]["shortcuts"]:
            value = tile.get("value", tile)
            english = demo_english.SHORTCUTS.get(value.get("title"))
            if english is not None:
                value["title"], value["description"] = english
    return stream


def _translate(page: Page, words: dict, *, locale: Locale, editor, reviewer) -> bool:
    """``page`` in English, as an editor translates it: "Translate" (a draft copy under its
    parent's translation, keeping the page's address and facts), the English ``words`` written
    in, then published. Only a live page whose parent is translated, and only once: a page that
    already has an English version (live, a draft or in review) is left to whoever made it."""
    if not page.live or page.get_translation_or_none(locale) is not None:
        return False
    parent = page.get_parent()
    if not parent.is_root() and parent.get_translation_or_none(locale) is None:
        return False  # its section has no English version (an editor removed it)
    with transaction.atomic():
        copy = CopyPageForTranslationAction(page=page, locale=locale, user=editor).execute(
            skip_permission_checks=True
        )
        for name, value in words.items():
            setattr(copy, name, value)
        if isinstance(copy, HomePage):
            copy.body = _english_tiles(list(copy.body.raw_data))
        if reviewer is not None:
            # Wagtail caches a user's page rights on the user object, and the English home's
            # (translation.home_rights_follow) may be new since: the reviewer as a new request
            # would load them.
            reviewer = User.objects.get(pk=reviewer.pk)
        _publish(copy, editor=editor, reviewer=reviewer)
    return True


def _translations(home: HomePage, index: NoticeIndexPage, *, editor, reviewer) -> int:
    locale = Locale.objects.filter(language_code="en").first()
    if locale is None:
        return 0
    guides = _child(home, GUIDES_SLUG)
    wanted: list[tuple[Page | None, dict]] = [
        (home, demo_english.HOME),
        (index, demo_english.NOTICE_INDEX),
        *((_child(index, slug), words) for slug, words in demo_english.NOTICES.items()),
        (guides, demo_english.guides_section()),
        (CommitmentsPage.objects.filter(locale=home.locale).first(), demo_english.COMMITMENTS),
        (TariffsPage.objects.filter(locale=home.locale).first(), demo_english.TARIFFS),
    ]
    if guides is not None:
        wanted += [
            (_child(guides, slug), words)
            for slug, words in (
                ("new-connection", demo_english.guide_new_connection()),
                ("how-to-pay", demo_english.guide_pay()),
                ("bind-account", demo_english.guide_bind()),
                ("faq", demo_english.faq()),
            )
        ]
    made = 0
    for page, words in wanted:
        if page is not None and _translate(
            page, words, locale=locale, editor=editor, reviewer=reviewer
        ):
            made += 1
    return made


def seed_cms(stdout=None) -> None:
    """Make the demo site's pages that are not there yet (see the module docstring)."""
    site = Site.objects.filter(is_default_site=True).select_related("root_page").first()
    home = site.root_page.specific if site else None
    index = (
        NoticeIndexPage.objects.filter(locale=home.locale).first()
        if isinstance(home, HomePage)
        else None
    )
    if index is None:
        return  # not a site made by the migrations: nothing to add to
    users = {u.email: u for u in User.objects.filter(email__in=[EDITOR, REVIEWER])}
    editor, reviewer = users.get(EDITOR), users.get(REVIEWER)
    today = clock.today()
    with _quiet():
        notices, moved = _notices(index, editor=editor, reviewer=reviewer, today=today)
        pages = _pages(home, editor=editor, reviewer=reviewer)
        if _guide_tile(home, editor=editor, reviewer=reviewer):
            pages += 1
        translated = _translations(home, index, editor=editor, reviewer=reviewer)
    if stdout is not None and (notices or moved or pages or translated):
        line = f"  demo content: {notices} notices and {pages} pages made"
        if translated:
            line += f", {translated} translated into English"
        if moved:
            line += f", {moved} outages moved forward to come again"
        stdout.write(line)
