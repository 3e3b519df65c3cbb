"""The portal's staff roles, as Django groups (so an operator can see and change them).

"Editors" (Wagtail's own group) draft content: they add and edit pages under the home page, use
images and documents and keep the service settings (the hotline), but cannot publish; every page
they change goes to the "Editorial review" workflow, where a member of "Reviewers" approves it
(and so publishes it) or asks for changes (docs/cms.md, "Editorial workflow"). Reviewers keep
the service settings too. "Service staff" work applications and payments, and edit no page unless
an operator grants it. Customers and business users have no group: what they may see follows from
their accounts and organisations.
"""

from django.contrib.auth.models import Group, Permission
from wagtail.models import (
    Collection,
    GroupApprovalTask,
    GroupCollectionPermission,
    GroupPagePermission,
    Page,
    Site,
    Workflow,
    WorkflowPage,
    WorkflowTask,
)

EDITORS = "Editors"
REVIEWERS = "Reviewers"
SERVICE_STAFF = "Service staff"
ROLES = (EDITORS, REVIEWERS, SERVICE_STAFF)

EDITORIAL_WORKFLOW = "Editorial review"
REVIEW_TASK = "Reviewers approve"

# What each content role may do to the pages under the home page (and the home page itself).
# Nobody below the reviewers publishes: an editor's change is submitted to the workflow.
PAGE_PERMISSIONS = {
    EDITORS: ("add_page", "change_page"),
    REVIEWERS: ("add_page", "change_page", "publish_page", "lock_page", "unlock_page"),
}
# Images and documents for public content, in every collection (the root's rules are inherited).
# Customers' documents never go through Wagtail's library: they belong to their applications.
MEDIA_PERMISSIONS = (
    ("wagtailimages", "add_image"),
    ("wagtailimages", "choose_image"),
    ("wagtaildocs", "add_document"),
    ("wagtaildocs", "choose_document"),
)

STAFF_MODEL_PERMISSIONS = {
    # The content roles keep the site settings (Settings → Service settings: the hotline every
    # page shows; docs/cms.md). Wagtail's settings take a model permission, for every site.
    # "Translate": a page's English copy, which they then edit, and which goes through the same
    # review (docs/cms.md, "Languages").
    EDITORS: [("cms", "change_servicesettings"), ("simple_translation", "submit_translation")],
    REVIEWERS: [("cms", "change_servicesettings"), ("simple_translation", "submit_translation")],
    # Tariffs and penalty rules are published prices: service staff maintain them in the admin.
    # They also see online payments and refund them (with a reason, audited; docs/payments.md).
    SERVICE_STAFF: [
        *(
            ("payments", f"{action}_{model}")
            for model in ("tariff", "tariffversion", "penaltyrule")
            for action in ("add", "change", "delete", "view")
        ),
        ("payments", "view_paymentattempt"),
        ("payments", "refund_paymentattempt"),
        # The working-day calendar and the service commitments the clocks count in.
        *(("portal", f"{action}_calendarday") for action in ("add", "change", "delete", "view")),
        *(
            ("applications", f"{action}_commitmentruleset")
            for action in ("add", "change", "delete", "view")
        ),
        # What a scheduled job skipped and kept for a person (docs/operations.md).
        ("portal", "view_jobproblem"),
        # The application queue: reading cases, and working them.
        ("applications", "view_case"),
        ("applications", "work_case"),
        ("applications", "view_dashboard"),  # the manager's dashboard (quality)
        # The kinds of application: opened or closed, and their versions' steps and documents
        # (nobody adds or deletes a kind in the back office).
        *(("applications", f"{action}_applicationkind") for action in ("change", "view")),
        *(
            ("applications", f"{action}_kindversion")
            for action in ("add", "change", "delete", "view")
        ),
    ],
}


def _permission(app_label: str, codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def roles_ensure() -> dict[str, Group]:
    """Create the staff groups with back-office access, the content roles' rights on the site's
    pages and media, and the editorial workflow, where they are missing. Idempotent: a second run
    changes nothing. It only adds (what an operator added or changed stays), except that the
    content roles lose rights on the tree's root, above the site (Wagtail's first migration
    gives its Editors those)."""
    access_admin = _permission("wagtailadmin", "access_admin")
    groups = {}
    for name in ROLES:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(access_admin)
        for app_label, codename in STAFF_MODEL_PERMISSIONS.get(name, ()):
            group.permissions.add(_permission(app_label, codename))
        groups[name] = group
    _content_rights_ensure(groups)
    return groups


def _content_rights_ensure(groups: dict[str, Group]) -> None:
    """Page rights under the home page and its translations (the English pages' tree), media
    rights, and the workflow every page change there goes through. Without a site yet (a
    database being emptied between tests), only the groups."""
    site = Site.objects.filter(is_default_site=True).select_related("root_page").first()
    home = site.root_page if site else None
    if home is None:
        return
    homes = list(Page.objects.filter(translation_key=home.translation_key))
    for role, codenames in PAGE_PERMISSIONS.items():
        # Wagtail's first migration gives its Editors rights on the tree's root, above every site;
        # the portal's editors work under the home page only.
        GroupPagePermission.objects.filter(group=groups[role], page__depth=1).delete()
        for codename in codenames:
            for page in homes:
                GroupPagePermission.objects.get_or_create(
                    group=groups[role], page=page, permission=_permission("wagtailcore", codename)
                )
    root_collection = Collection.get_first_root_node()
    if root_collection is not None:
        for role in (EDITORS, REVIEWERS):
            for app_label, codename in MEDIA_PERMISSIONS:
                GroupCollectionPermission.objects.get_or_create(
                    group=groups[role],
                    collection=root_collection,
                    permission=_permission(app_label, codename),
                )

    workflow, _ = Workflow.objects.get_or_create(name=EDITORIAL_WORKFLOW)
    task = GroupApprovalTask.objects.filter(name=REVIEW_TASK).first()
    if task is None:
        task = GroupApprovalTask.objects.create(name=REVIEW_TASK)
        task.groups.add(groups[REVIEWERS])
    if not workflow.workflow_tasks.exists():
        WorkflowTask.objects.create(workflow=workflow, task=task, sort_order=0)
    # The home page's workflow covers every page under it, notices included (Wagtail takes the
    # nearest ancestor's); an operator who assigned another keeps theirs.
    for page in homes:
        WorkflowPage.objects.get_or_create(page=page, defaults={"workflow": workflow})
