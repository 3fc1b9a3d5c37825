"""Job runs (read-only) and the beat schedule, whose actions need the change permission (design decision 6)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from accounts.dispatch.outbox import periodic_tasks_run_now
from accounts.privacy.admin_readonly import ReadOnlyAdmin
from retention.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "job", "started_at", "finished_at", "summary", "failed")
    list_filter = ("job",)
    show_full_result_count = False
    fields = ("job", "dry_run", "started_at", "finished_at", "counts", "error")
    readonly_fields = fields

    @admin.display(description=_("counts"))
    def summary(self, obj: JobRun) -> str:
        flat = {k: v for k, v in (obj.counts or {}).items() if not isinstance(v, dict) and k != "dry_run"}
        return ", ".join(f"{k}: {v}" for k, v in flat.items()) or "—"

    @admin.display(description=_("failed"), boolean=True)
    def failed(self, obj: JobRun) -> bool:
        return bool(obj.error)


class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's actions (enable, disable, toggle, run now) declare no permission, so anyone
    who may only *view* the schedule (auditors) could stop a retention job or run an erasure at once:
    they are offered, and run, only with the change permission on periodic tasks."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            for name in ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks"):
                actions.pop(name, None)
        return actions

    @admin.action(description=_("Run selected tasks now"))
    def run_tasks(self, request, queryset):
        """Run now, through the task outbox (issue 12): with the broker down the run waits and is sent
        when it is back, instead of an error page. Sent without the schedule's slot header, so a run
        asked for by hand always runs, even in a slot the schedule already used."""
        sent, waiting = periodic_tasks_run_now(queryset)
        if waiting:
            self.message_user(request, _("%(count)s task(s) recorded; the task broker is unreachable, so they wait "
                                         "in the outbox and start as soon as it is back.") % {"count": waiting},
                              level=messages.WARNING)
        else:
            self.message_user(request, _("%(count)s task(s) sent to the workers.") % {"count": sent})


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
