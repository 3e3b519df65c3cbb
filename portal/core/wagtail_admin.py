"""The back office's model views (Wagtail admin), two kinds:

- audited: every create, edit and delete writes an audit record in the same transaction, and an
  object that is history (a price version bills were priced with, a rule in force) can be refused
  edits and deletion with a message;

      CreateView, EditView, DeleteView = audited_views("tariffs.version", data_of, edit_locked=…)

- read-only: a listing and a detail page of rows that change only through their services (the
  audit log, payments and the provider's events, job problems, application cases):
  ``ReadOnlyModelViewSet`` with ``ReadOnlyPermissionPolicy`` registered for the model.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from wagtail.admin import messages
from wagtail.admin.views import generic
from wagtail.admin.viewsets.model import ModelViewSet
from wagtail.permission_policies import ModelPermissionPolicy

from .audit import audit_record, object_ref_for


class AuditedCreateView(generic.CreateView):
    """Saves and writes ``<prefix>_created`` last, in the view's transaction."""

    audit_prefix = ""
    audit_data = None

    def after_save(self, instance) -> dict:
        """More work in the same transaction, before the audit record; returns data for it."""
        return {}

    def save_instance(self):
        instance = super().save_instance()
        extra = self.after_save(instance)
        audit_record(
            action=f"{self.audit_prefix}_created",
            actor=self.request.user,
            obj=instance,
            data=self.audit_data(instance) | extra,
        )
        return instance


class AuditedEditView(generic.EditView):
    """Refuses objects ``locked_message`` names; saves and writes ``<prefix>_updated`` (before
    and after) last, in the view's transaction."""

    audit_prefix = ""
    audit_data = None
    add_url_name = None

    def locked_message(self, obj) -> str | None:
        return None

    def locked_buttons(self, obj) -> list:
        """What the refusal offers instead: adding a new one."""
        return [messages.button(reverse(self.add_url_name), _("Add a new one"))]

    def _refuse(self):
        self.object = self.get_object()
        message = self.locked_message(self.object)
        if message is None:
            return None
        messages.error(self.request, message, buttons=self.locked_buttons(self.object))
        return redirect(self.index_url_name)

    def get(self, request, *args, **kwargs):
        return self._refuse() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if refused := self._refuse():
            return refused
        # Read before the form writes the posted values onto the instance.
        self.before = self.audit_data(self.object)
        return super().post(request, *args, **kwargs)

    def save_instance(self):
        instance = super().save_instance()
        audit_record(
            action=f"{self.audit_prefix}_updated",
            actor=self.request.user,
            obj=instance,
            data={"before": self.before, "after": self.audit_data(instance)},
        )
        return instance


class AuditedDeleteView(generic.DeleteView):
    """Refuses objects ``locked_message`` names; deletes and writes ``<prefix>_deleted`` in one
    transaction."""

    audit_prefix = ""
    audit_data = None

    def locked_message(self, obj) -> str | None:
        return None

    def _refuse(self):
        message = self.locked_message(self.object)
        if message is None:
            return None
        messages.error(self.request, message)
        return redirect(self.index_url_name)

    def get(self, request, *args, **kwargs):
        return self._refuse() or super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self._refuse() or super().post(request, *args, **kwargs)

    def delete_action(self):
        data = self.audit_data(self.object)
        ref = object_ref_for(self.object)
        with transaction.atomic():
            super().delete_action()
            audit_record(
                action=f"{self.audit_prefix}_deleted", actor=self.request.user, obj=ref, data=data
            )


def audited_views(prefix, data, *, edit_locked=None, delete_locked=None):
    """The create, edit and delete view classes for one model; ``*_locked(obj)`` returns why
    ``obj`` may not be edited or deleted, or None."""

    def attrs(locked):
        found = {"audit_prefix": prefix, "audit_data": staticmethod(data)}
        if locked is not None:
            found["locked_message"] = lambda self, obj: locked(obj)
        return found

    return (
        type("CreateView", (AuditedCreateView,), attrs(None)),
        type("EditView", (AuditedEditView,), attrs(edit_locked)),
        type("DeleteView", (AuditedDeleteView,), attrs(delete_locked)),
    )


class AuditedModelViewSet(ModelViewSet):
    copy_view_enabled = False  # history is added anew (a new version, a new rule), never copied

    def get_edit_view_kwargs(self, **kwargs):
        # The refusal message offers a button to add a new version or rule instead.
        return super().get_edit_view_kwargs(add_url_name=self.get_url_name("add"), **kwargs)


class ReadOnlyPermissionPolicy(ModelPermissionPolicy):
    """Grants "view" as Django's permissions say, and nothing else to anybody.

    Superusers pass every ``has_perm`` check, so without this Wagtail would offer them add, edit
    and delete buttons.
    """

    def user_has_permission(self, user, action):
        return action == "view" and super().user_has_permission(user, action)

    def users_with_any_permission(self, actions):
        if "view" not in actions:
            return get_user_model().objects.none()
        return super().users_with_any_permission(["view"])


class ReadOnlyModelViewSet(ModelViewSet):
    """The listing and the detail page only: no add, edit, delete, copy, history or usage URLs
    exist. A subclass adds its own (a refund form, a case's actions) in ``extra_urlpatterns``."""

    inspect_view_enabled = True
    copy_view_enabled = False
    add_to_reference_index = False

    def extra_urlpatterns(self) -> list:
        return []

    def get_urlpatterns(self):
        return [
            path("", self.index_view, name="index"),
            path("results/", self.index_results_view, name="index_results"),
            path(f"inspect/<{self.pk_path_converter}:pk>/", self.inspect_view, name="inspect"),
            *self.extra_urlpatterns(),
        ]
