"""The English words of the demo site's translations (cms/demo.py makes them, as an editor would
with "Translate"): the home page, the notice index, four notices (the two planned outages that
reach the demo resident, the fraud warning and online applications), the guides section with its
three guides and the FAQ, and the commitments and tariffs pages. Only what a translator writes is
here (titles, introductions, bodies, a notice's reason); the rest is the Chinese page's.

/about/, /service-channels/ and the other notices stay untranslated, so the demo also shows a
page read in English that is not translated yet.
"""

from django.urls import reverse

COMMITMENTS_URL = "/commitments/"


def _text(html: str) -> dict:
    return {"type": "paragraph", "value": html}


def _heading(text: str) -> dict:
    return {"type": "heading", "value": text}


HOTLINE = {"type": "hotline", "value": {"heading": "", "text": ""}}

HOME = {
    "title": "Online business hall",
    "intro": (
        "<p>Your electricity services without leaving home: bills, online payment, applications "
        "and their progress, all in one place.</p>"
    ),
}
# The home page's service shortcuts (migration 0002's tiles), by their Chinese title: the
# English title and description. A tile an editor has added since keeps its Chinese words.
SHORTCUTS = {
    "缴纳电费": ("Pay your bills", "See your bills and pay online"),
    "我的户号": ("My accounts", "Bind and manage your electricity accounts"),
    "业务办理": ("Applications", "New connections, more capacity, a change of holder and more"),
    "停电公告": ("Outage notices", "Planned outages and power cuts by faults"),
    "故障报修": ("Report a fault", "Service hotline 95598, day and night"),
    "服务指南": ("Service guide", "Service commitments, tariffs and frequently asked questions"),
}

NOTICE_INDEX = {
    "title": "Notices",
    "intro": "<p>Planned outages, power cuts by faults, tariff changes and other notices.</p>",
}

PREPARE = (
    "<p>Customers affected, please get ready for the outage: switch off your appliances, keep the "
    "food in your fridge safe, and make arrangements in advance for lifts, water pumps and "
    "medical equipment. During the outage keep away from power lines and equipment and never "
    "climb on them: supply may come back at any moment, so treat every line as live.</p>"
    "<p>In rain, snow, strong wind or other bad weather the work will be postponed; if it "
    "finishes early, supply will come back early without further notice. We apologise for the "
    "inconvenience.</p>"
)

# By the Chinese notice's slug.
NOTICES = {
    "wangjing-112-maintenance": {
        "title": "Planned outage for maintenance around Wangjing Xiyuan, Chaoyang District",
        "reason": "Replacing the switchgear of the 10kV Wangjing 112 line and maintaining the line",
        "body": (
            "<p>To make supply more reliable, we will replace the switchgear of the 10kV Wangjing "
            "112 line and maintain the line; the line is off while the work is done.</p>"
            "<p><b>Area affected:</b> Wangjing Xiyuan zones 3 and 4, and some shops along "
            "Wangjing Street.</p>" + PREPARE
        ),
    },
    "zhanlanlu-205-cable-relocation": {
        "title": "Temporary planned outage in the Baiwanzhuang area, Xicheng District",
        "reason": "Moving cables for the pipeline works on Baiwanzhuang Street",
        "body": (
            "<p>The gas pipeline works on Baiwanzhuang Street need a section of cable of the 10kV "
            "Zhanlanlu 205 line moved; the line is off while it is moved.</p>"
            "<p><b>Area affected:</b> compounds 22 and 24 of Baiwanzhuang Street, and some "
            "organisations along the northern part of Zhanlan Road.</p>" + PREPARE
        ),
    },
    "fraud-warning": {
        "title": "Beware of fraudsters posing as power supply company staff",
        "reason": "",
        "body": (
            "<p>Fraudsters have lately been posing as our staff, telling customers by phone or "
            "text message that their supply is about to be cut off for unpaid bills, that their "
            "meter needs a paid upgrade, or that an overpayment is waiting to be refunded, to "
            "get them to transfer money or open a link. Please be on your guard:</p>"
            "<ul><li>we never ask you by phone or text message to transfer money to a person's "
            "account, nor for your bank card's password or a verification code;</li>"
            "<li>pay online only on the online business hall's payment pages; the QR code on "
            "the electronic receipt of a payment shows whether the receipt is genuine;</li>"
            "<li>before cutting off supply for unpaid bills we notify you in writing, as the "
            "rules require: never by a phone call followed at once by a cut;</li>"
            "<li>when in doubt, call the service hotline 95598.</li></ul>"
        ),
    },
    "online-applications": {
        "title": "New connections, more capacity and other requests can be made online",
        "reason": "",
        "body": (
            "<p>Residential and business customers can now apply in the online business hall for "
            "a new connection, more or less capacity, a change of account holder, a suspension, "
            "closing an account or a meter test, sending their documents online, without "
            "coming to a service centre.</p>"
            "<p>Before you start, the page lists every document you will need; once you have "
            "applied, you can see at any time which step your request is at, the time limit of "
            'each step and its history. How to apply: <a href="/guides/new-connection/">How to '
            "apply for a new connection</a>.</p>"
        ),
    },
}


def guides_section() -> dict:
    return {
        "title": "Service guide",
        "intro": (
            "<p>Before you apply for anything, start here: how to apply, which documents to "
            "prepare, how to pay and how to bind an account.</p>"
        ),
        "body": [
            _text(
                f'<p>The time limits are those of our <a href="{COMMITMENTS_URL}">service '
                'commitments</a>; prices are on the <a href="/tariffs/">tariffs</a> page; '
                'outages are listed under <a href="/notices/">notices</a>, which you can '
                "follow by district.</p>"
            )
        ],
    }


def guide_new_connection() -> dict:
    return {
        "title": "How to apply for a new connection",
        "intro": (
            "<p>Households and businesses can apply for a new connection in the online business "
            "hall, at a service centre, or by calling 95598, where our staff will register it "
            "for you.</p>"
        ),
        "body": [
            _heading("The steps"),
            _text(
                "<ol><li><b>Apply:</b> in the online business hall choose “New connection” and "
                "your customer class, give the address and the capacity you need, upload the "
                "documents and submit.</li>"
                "<li><b>Acceptance and site survey:</b> once we accept it, we agree a time with "
                "you to survey the site.</li>"
                "<li><b>Supply plan:</b> we tell you where the supply comes from, how it is "
                "metered and what work is needed.</li>"
                "<li><b>Design review and inspection during construction:</b> high-voltage "
                "customers only.</li>"
                "<li><b>Completion inspection:</b> once your own installation is finished, we "
                "come and inspect it.</li>"
                "<li><b>Contract, meter and energising:</b> once the supply contract is signed, "
                "we fit the meter and switch the supply on.</li></ol>"
                f'<p>The time limit of each step is in our <a href="{COMMITMENTS_URL}">service '
                "commitments</a>; once you have applied, "
                f'<a href="{reverse("applications:list")}">my applications</a> shows where your '
                "request is and the time limit of each step.</p>"
            ),
            {"type": "documents", "value": {"category": "new_connection", "heading": ""}},
            _heading("Good to know"),
            _text(
                "<ul><li>Documents can be PDF files or clear photos, up to 10 MB each.</li>"
                "<li>Applying for someone else needs their written authorisation.</li>"
                "<li>If a document is missing, our staff will tell you in the application which "
                "one; the time limit stops until you have sent it.</li></ul>"
            ),
            HOTLINE,
        ],
    }


def guide_pay() -> dict:
    return {
        "title": "How to pay your electricity bill",
        "intro": (
            "<p>Bills are issued every month; please pay by the due date printed on the bill.</p>"
        ),
        "body": [
            _heading("Ways to pay"),
            _text(
                "<ul><li><b>Online business hall:</b> sign in and open "
                f'<a href="{reverse("pay:bills")}">pay bills</a>, tick one or more bills and pay '
                "online; you can pay several accounts' bills at once, and the payment counts "
                "at once.</li>"
                "<li><b>Direct debit:</b> sign a direct debit agreement with your bank and the "
                "bill is paid every month.</li>"
                "<li><b>At a service centre:</b> bring your account number or your bill to any "
                "service centre.</li>"
                "<li><b>Other payment platforms:</b> a payment through a bank or another "
                "platform counts when that platform says so, and usually shows in the online "
                "business hall the next day.</li></ul>"
            ),
            _heading("Receipts and invoices"),
            _text(
                "<p>Every online payment has an electronic receipt (PDF), which you can download "
                "from your payments; its QR code shows whether it is genuine. A receipt is not a "
                "VAT invoice: if you need one, request it on the payment's page.</p>"
            ),
            _heading("Paying late"),
            _text(
                "<p>An unpaid bill accrues a late payment charge every day from the day after its "
                "due date, as the Rules for Power Supply Business set it: for households 0.1% of "
                "the amount owed a day; for other customers 0.2% a day on this year's bills and "
                "0.3% a day on earlier years' ones; at least 1 yuan in all.</p>"
            ),
            _heading("Businesses"),
            _text(
                "<p>A business's administrators can pay the bills of all its accounts, and can let "
                "members pay the bills of the accounts they choose.</p>"
            ),
        ],
    }


def guide_bind() -> dict:
    return {
        "title": "How to bind an electricity account",
        "intro": (
            "<p>Once you have bound an account, you can see its bills, pay them, apply for "
            "services and be told of the outages that affect it.</p>"
        ),
        "body": [
            _heading("Find your account number"),
            _text(
                "<p>The account number is printed on your electricity bill and on payment "
                "receipts. You can bind several accounts, for instance your own home and your "
                "parents'.</p>"
            ),
            _heading("Show that the account is yours"),
            _text(
                f'<p>Sign in, open <a href="{reverse("me:bind")}">bind an account</a>, enter the '
                "account number and prove it is yours in one of these ways:</p>"
                "<ul><li>the account holder's name and the last 4 digits of the meter number "
                "(printed on the meter);</li>"
                "<li>a code sent by text message to the mobile number registered for the "
                "account;</li>"
                "<li>a code sent to the e-mail address registered for the account;</li>"
                "<li>the account holder's name and the amount of the latest bill.</li></ul>"
                "<p>To protect customers' data, the number of tries is limited, and we never say "
                "whether an account number exists.</p>"
            ),
            _heading("For the whole family"),
            _text(
                "<p>Several people can each bind the same account and give it their own name "
                "(“Home”, “Parents”), without affecting each other. Unbinding takes effect at "
                "once; the binding's history stays visible.</p>"
            ),
            _heading("Businesses"),
            _text(
                "<p>A business's accounts are bound by its administrator in the business's name, "
                "who then lets members view them, pay them or apply for services.</p>"
            ),
        ],
    }


FAQ = [
    (
        "The power is off: how do I know whether it is a planned outage or a fault?",
        '<p>Look under <a href="/notices/">notices</a>, by district, for the current outages. '
        "If you have bound your account, its card on your home page lists its current and "
        "coming outages. If you find no notice about it, call 95598 to report the fault.</p>",
    ),
    (
        "Why was I not told of an outage?",
        "<p>Outage notices go to the customers who have bound an account the outage affects. "
        "Check that you have bound your account and that outage notices are on in your "
        '<a href="/me/notifications/">notification settings</a>; text messages go only to a '
        "verified mobile number.</p>",
    ),
    (
        "Where do I find my account number?",
        "<p>It is printed on your electricity bill and on payment receipts. If you cannot find "
        "it, bring your ID to a service centre, or call 95598.</p>",
    ),
    (
        "What happens if I pay late?",
        "<p>A late payment charge accrues every day from the day after the due date: for "
        "households 0.1% of the amount owed. For long unpaid bills, we suspend supply after "
        "notifying you in writing, as the law requires. See "
        '<a href="/guides/how-to-pay/">how to pay your electricity bill</a>.</p>',
    ),
    (
        "How soon does an online payment count?",
        "<p>A payment in the online business hall counts as soon as it succeeds, and the bill "
        "shows as paid at once. Payments by direct debit or through other platforms usually "
        "show the next day.</p>",
    ),
    (
        "Can I get a special VAT invoice?",
        "<p>Yes. Once an online payment has succeeded, request it with your invoicing details on "
        "the payment's page; the result shows in your payments.</p>",
    ),
    (
        "How long does a new connection take?",
        '<p>The time limit of each step is in our <a href="/commitments/">service commitments</a>. '
        "Once you have applied, the application's page shows its current step and its time "
        "limit; the time spent waiting for documents from you does not count.</p>",
    ),
    (
        "How many people can bind one account?",
        "<p>Several people can each bind it, for instance everyone in a family, and each sees "
        "the bills, pays and is told of outages.</p>",
    ),
]


def faq() -> dict:
    return {
        "title": "Frequently asked questions",
        "intro": (
            "<p>The questions customers ask most. If yours is not answered here, call 95598.</p>"
        ),
        "body": [
            {"type": "question", "value": {"question": question, "answer": answer}}
            for question, answer in FAQ
        ],
    }


COMMITMENTS = {
    "title": "Service commitments",
    "intro": (
        "<p>The time limits we commit to. They come from the same source as the time limits "
        "shown on each application's progress, so the two always agree.</p>"
    ),
}
TARIFFS = {
    "title": "Tariffs",
    "intro": (
        "<p>The tariffs in force and the changes announced, by region. What you owe is what "
        "your bill says.</p>"
    ),
}
