"""The agents' queue, a request's page, intake and the compliance dashboard (issue 6, requirements 1, 4, 5, 9).

Plain Django views and templates (``templates/requests_desk/``), no scripts. Every page needs a
staff login (the admin's login page) and a permission; every change is a POST that calls a service
or ``workflow.transition`` and reports the outcome as a message, then redirects (post/redirect/get).
Requests are named in URLs by their public reference only (no personal data in URLs).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.privacy import reveal
from requests_desk import letters, lifecycle, package_build, selectors, workflow
from requests_desk import queue as request_queue
from requests_desk.choices import RequestType
from requests_desk.forms import (
    ContactForm,
    ExtendForm,
    FeeForm,
    FulfilForm,
    IdentityCheckForm,
    IntakeForm,
    LetterLanguageForm,
    MemberForm,
    NoteForm,
    QueueFilterForm,
    RefuseForm,
    ReplyForm,
)
from requests_desk.fulfilment.deletion import deletion_prepare
from requests_desk.fulfilment.dispatcher import request_fulfil
from requests_desk.messages import IncomingAttachment, attachment_read, message_bodies_read_log, message_log_contact
from requests_desk.models import Attachment, Request
from requests_desk.permissions import DECIDE, WORK_QUEUE
from requests_desk.states import OPEN_STATES

PAGE_SIZE = 25
VIEW = "requests_desk.view_request"
WORK = WORK_QUEUE

#: Bar colours of the dashboard chart, one per request type (also its legend).
TYPE_COLOURS = {
    RequestType.ACCESS: "#1f77b4",
    RequestType.CORRECTION: "#ff7f0e",
    RequestType.DELETION: "#d62728",
    RequestType.CONSENT_WITHDRAWAL: "#9467bd",
    RequestType.ACCOUNT_CANCELLATION: "#8c564b",
    RequestType.COMPLAINT: "#e377c2",
    RequestType.DISPUTE: "#7f7f7f",
    RequestType.UNDERAGE_REPORT: "#bcbd22",
    RequestType.SECURITY_REPORT: "#17becf",
    RequestType.ENQUIRY: "#2ca02c",
}


def _desk_view(permission: str):
    """Login (the admin's login page) and a permission; 403 for a logged-in user without it."""

    def wrap(view):
        return login_required(permission_required(permission, raise_exception=True)(view))

    return wrap


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _no_store(response):
    # Pages show member data (masked) and correspondence: never kept by browsers or proxies.
    response["Cache-Control"] = "no-store, private"
    return response


def _error_messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return [text for texts in exc.message_dict.values() for text in texts]
        return list(exc.messages)
    return [str(exc) or _("You may not do this.")]


def _report(request, exc: Exception) -> None:
    for text in _error_messages(exc):
        messages.error(request, text)


def _form_errors(request, form) -> None:
    for field, errors in form.errors.items():
        label = ""
        if field in form.fields:
            label = form.fields[field].label or field.replace("_", " ").capitalize()
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


def _get_request(reference: str) -> Request:
    try:
        return selectors.request_for_page(reference)
    except Request.DoesNotExist:
        raise Http404(_("No such request.")) from None


def _detail(reference: str):
    return redirect("requests_desk:request_detail", reference=reference)


# --- The queue -----------------------------------------------------------------------------------------
@require_GET
@_desk_view(WORK)
def queue(request):
    form = QueueFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    now = timezone.now()
    queryset = selectors.queue(
        user=request.user, scope=filters.get("scope") or "all", due_within=filters.get("due_within"),
        overdue=bool(filters.get("overdue")), type=filters.get("type") or "", now=now,
    )
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(item, selectors.due_state(item.due_at, now)) for item in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return _no_store(render(request, "requests_desk/queue.html", {
        "title": _("Request queue"), "form": form, "page": page, "rows": rows, "query": query.urlencode(),
        "due_soon_days": selectors.DUE_SOON_DAYS,
    }))


@require_POST
@_desk_view(WORK)
def take_next(request):
    try:
        taken = request_queue.take_next(user=request.user)
    except (PermissionDenied, ValidationError) as exc:
        _report(request, exc)
        return redirect("requests_desk:queue")
    if taken is None:
        messages.info(request, _("No unassigned open request is waiting."))
        return redirect("requests_desk:queue")
    messages.success(request, _("%(reference)s is now assigned to you.") % {"reference": taken.reference})
    return _detail(taken.reference)


# --- Intake --------------------------------------------------------------------------------------------
@_desk_view(WORK)
def intake(request):
    form = IntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = lifecycle.request_create(
                type=data["type"], requester_kind=data["requester_kind"], channel=data["channel"],
                received_at=data.get("received_at"), member=data.get("member"),
                requester_name=data.get("requester_name", ""), requester_email=data.get("requester_email", ""),
                priority=data.get("priority"), severity=data.get("severity", ""), subject=data.get("subject", ""),
                description=data.get("description", ""), concerns=data.get("concerns"), user=request.user,
                acknowledge=bool(data.get("acknowledge")),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, texts in exc.message_dict.items():
                    for text in texts:
                        form.add_error(field if field in form.fields else None, text)
            else:
                form.add_error(None, exc)
        except PermissionDenied as exc:
            _report(request, exc)
        else:
            messages.success(request, _("Request %(reference)s recorded; due %(due)s.") % {
                "reference": created.reference,
                "due": formats.date_format(timezone.localtime(created.due_at), "SHORT_DATE_FORMAT")})
            if created.is_repeat:
                messages.warning(request, _("This member made a request of the same type recently: it is flagged "
                                            "as a repeat (PP-31)."))
            return _detail(created.reference)
    return _no_store(render(request, "requests_desk/intake.html", {"title": _("New request"), "form": form}))


# --- A request's page ----------------------------------------------------------------------------------
#: How a request's page says where its deadline stands (``selectors.due_state``).
DUE_STATE_LABELS = {
    "overdue": gettext_lazy("overdue"), "soon": pgettext_lazy("deadline", "soon"), "later": gettext_lazy("later"),
}


def _member_rows(member) -> list[tuple[str, str]]:
    """What the page shows of the member: identifiers and statuses, sensitive values masked (PP-25)."""
    if member is None:
        return []
    return [
        (_("Member number"), member.member_number),
        (_("Kind"), member.get_kind_display()),
        (_("Account status"), member.get_status_display()),
        (_("Verification level"), member.get_verification_level_display()),
        (_("E-mail"), reveal.masked(member, "email")),
        (_("Phone"), reveal.masked(member, "phone")),
        (_("Date of birth"), reveal.masked(member, "date_of_birth")),
    ]


@require_GET
@_desk_view(VIEW)
def request_detail(request, reference: str):
    item = _get_request(reference)
    entries = selectors.timeline(item)
    for entry in entries:
        if entry.kind == "transition":
            # The timeline names a transition as the buttons do, in the staff user's language.
            spec = workflow.TRANSITIONS.get(entry.item.name)
            entry.item.label = spec.label if spec else entry.item.name
    user = request.user
    may_work = user.has_perm(WORK)
    shown = [entry.item for entry in entries if entry.kind == "message"] if may_work else []
    if shown:
        # Reading correspondence is reading sensitive data: one access-log row per message shown (PP-25).
        message_bodies_read_log(user=user, request=item, messages=shown, ip_address=_client_ip(request))
    actions = []
    for spec in workflow.allowed_transitions(item, user):
        if spec.name == "refuse":
            form = RefuseForm(prefix="refuse", member_id=item.member_id)
        elif spec.name == "extend":
            form = ExtendForm(prefix="extend")
        elif spec.name == "fulfil":
            form = FulfilForm(prefix="fulfil")
        else:
            form = NoteForm(prefix=spec.name)
        actions.append({"spec": spec, "form": form})
    is_open = item.status in OPEN_STATES
    verified = any(entry.kind == "identity_check" for entry in entries)
    context = {
        "title": _("Request %(reference)s") % {"reference": item.reference},
        "item": item,
        "entries": entries,
        "show_bodies": may_work,
        "member_rows": _member_rows(item.member),
        "requester_email": reveal.masked(item, "requester_email"),
        "due_state": selectors.due_state(item.due_at),
        "due_state_label": DUE_STATE_LABELS[selectors.due_state(item.due_at)],
        "actions": actions,
        "verified": verified,
        "needs_identity": item.type in workflow.NEEDS_IDENTITY,
        "identity_form": IdentityCheckForm() if may_work and is_open else None,
        "reply_form": ReplyForm() if may_work else None,
        # Issue 16: the language of the next letter, which the agent may change before sending it.
        "language_form": LetterLanguageForm(initial={"language": letters.letter_language(item)}) if may_work else None,
        # PP-14: until the identity check, letters are limited (letters.letter_identity_gate).
        "letters_gated": not verified and letters.identity_gate_applies(item),
        "fee_form": FeeForm(initial={"fee_amount": item.fee_amount, "fee_reason": item.fee_reason})
        if user.has_perm(DECIDE) and is_open else None,
        "member_form": MemberForm() if may_work and is_open else None,
        "contact_form": ContactForm(prefix="contact") if may_work else None,
        "grounds": list(item.refusal_grounds.all()),
        "ground_records": list(item.refusal_ground_records.select_related("ground")),
        # PP-29: the worker's build of the access package ("building: N of M rows", or the failure).
        "packages": selectors.package_progress(item) if item.type == RequestType.ACCESS else [],
        "may_retry_package": user.has_perm(DECIDE),
    }
    return _no_store(render(request, "requests_desk/request_detail.html", context))


@require_POST
@_desk_view(WORK)
def request_transition(request, reference: str, name: str):
    item = _get_request(reference)
    if name not in workflow.TRANSITIONS:
        raise Http404(_("No such action."))
    spec = workflow.TRANSITIONS[name]
    try:
        if name == "refuse":
            form = RefuseForm(request.POST, prefix="refuse", member_id=item.member_id)
            if not form.is_valid():
                _form_errors(request, form)
                return _detail(reference)
            lifecycle.request_refuse(request=item, user=request.user, grounds=form.cleaned_data["grounds"],
                                     ground_records=form.cleaned_data.get("ground_records") or (),
                                     note=form.cleaned_data["note"], notify=form.cleaned_data["notify"])
        elif name == "extend":
            form = ExtendForm(request.POST, prefix="extend")
            if not form.is_valid():
                _form_errors(request, form)
                return _detail(reference)
            lifecycle.request_extend(request=item, user=request.user, due_at=form.due_at(item),
                                     reason=form.cleaned_data["note"], notify=form.cleaned_data["notify"])
        elif name == "fulfil":
            # Fulfilment does the type's work (package, erasure, ledger …) and replies: one call per type.
            form = FulfilForm(request.POST, prefix="fulfil")
            form.is_valid()
            request_fulfil(request=item, user=request.user, note=form.cleaned_data.get("note", ""),
                           notify=bool(form.cleaned_data.get("notify")))
        elif name == "submit_for_approval" and item.type == RequestType.DELETION:
            form = NoteForm(request.POST, prefix=name)
            form.is_valid()
            # Deletions are prepared by compliance and checked against legal holds before approval.
            deletion_prepare(request=item, user=request.user, note=form.cleaned_data.get("note", ""))
        else:
            form = NoteForm(request.POST, prefix=name)
            note = form.cleaned_data["note"] if form.is_valid() else ""
            workflow.transition(request=item, name=name, user=request.user, note=note)
    except (PermissionDenied, ValidationError) as exc:
        _report(request, exc)
    else:
        messages.success(request, _("%(action)s: done.") % {"action": spec.label})
    return _detail(reference)


@require_POST
@_desk_view(DECIDE)
def package_retry(request, reference: str, pk: int):
    """PP-29: build a failed access package again (the worker does it; the page shows the progress)."""
    item = _get_request(reference)
    package = item.packages.filter(pk=pk).first()
    if package is None:
        raise Http404(_("No such package."))
    try:
        package_build.access_package_retry(package=package, user=request.user)
    except (PermissionDenied, ValidationError) as exc:
        _report(request, exc)
    else:
        messages.success(request, _("The package is being built again."))
    return _detail(reference)


def _act(request, reference: str, form, action, success) -> HttpResponseRedirect:
    """One POST on a request's page: check the form, call the service, say what happened.

    ``action(item, data)`` calls the service and returns what it made; ``success(request, made)``
    adds the message. A refusal is shown as the service worded it; the page is shown again either way.
    """
    item = _get_request(reference)
    if not form.is_valid():
        _form_errors(request, form)
        return _detail(reference)
    try:
        made = action(item, form.cleaned_data)
    except (PermissionDenied, ValidationError) as exc:
        _report(request, exc)
    else:
        success(request, made)
    return _detail(reference)


def _say(text: str):
    return lambda request, made: messages.success(request, text)


@require_POST
@_desk_view(WORK)
def identity_check(request, reference: str):
    return _act(request, reference, IdentityCheckForm(request.POST),
                lambda item, data: lifecycle.identity_check_record(request=item, user=request.user, **data),
                _say(gettext_lazy("Identity verification recorded (PP-30).")))


def _letter_sent(request, sent) -> None:
    label = letters.LETTERS[sent.template].label
    if sent.channel == "email":
        text = _("Letter “%(letter)s” e-mailed.") % {"letter": label}
    else:
        text = _("Letter “%(letter)s” recorded for posting (no e-mail address).") % {"letter": label}
    messages.success(request, text)


@require_POST
@_desk_view(WORK)
def reply(request, reference: str):
    return _act(request, reference, ReplyForm(request.POST),
                lambda item, data: letters.letter_send(request=item, template=data["template"], user=request.user,
                                                       note=data["note"]),
                _letter_sent)


@require_POST
@_desk_view(WORK)
def letter_language(request, reference: str):
    """Issue 16: the language of this request's next letters (history records the change)."""
    return _act(request, reference, LetterLanguageForm(request.POST),
                lambda item, data: lifecycle.request_language_set(request=item, language=data["language"],
                                                                  user=request.user),
                lambda request, item: messages.success(
                    request, _("Letters are now written in %(language)s.") % {"language": item.get_language_display()}))


def _contact_logged(item, data, user):
    upload = data.get("attachment")
    attachment = None if upload is None else IncomingAttachment(
        content=upload.read(), content_type=upload.content_type or "application/octet-stream")
    return message_log_contact(request=item, channel=data["channel"], summary=data["summary"], user=user,
                               at=data.get("received_at"), attachment=attachment)


@require_POST
@_desk_view(WORK)
def log_contact(request, reference: str):
    """Log a phone call, letter or visit about this request as an inbound message (PP-14)."""
    return _act(request, reference, ContactForm(request.POST, request.FILES, prefix="contact"),
                lambda item, data: _contact_logged(item, data, request.user),
                lambda request, logged: messages.success(
                    request,
                    _("%(channel)s logged on the timeline (PP-14).") % {"channel": logged.get_channel_display()}))


@require_POST
@_desk_view(DECIDE)
def fee(request, reference: str):
    return _act(request, reference, FeeForm(request.POST),
                lambda item, data: lifecycle.request_fee_record(request=item, amount=data["fee_amount"],
                                                                reason=data["fee_reason"], user=request.user),
                _say(gettext_lazy("Fee recorded (PP-31).")))


def _member_linked(request, updated) -> None:
    messages.success(request, _("Member %(number)s linked to this request.") % {"number": updated.member.member_number})
    if updated.is_repeat:
        messages.warning(request, _("This member made a request of the same type recently (repeat, PP-31)."))


@require_POST
@_desk_view(WORK)
def identify_member(request, reference: str):
    return _act(request, reference, MemberForm(request.POST),
                lambda item, data: lifecycle.request_member_identify(request=item, member=data["member"],
                                                                     user=request.user),
                _member_linked)


@require_GET
@_desk_view(WORK)
def attachment(request, reference: str, pk: int):
    """An attachment of a message, decrypted and downloaded; the download is logged (PP-25)."""
    found = Attachment.objects.select_related("message__request__member").filter(
        pk=pk, message__request__reference=reference).first()
    if found is None:
        raise Http404(_("No such attachment."))
    content = attachment_read(user=request.user, attachment=found, ip_address=_client_ip(request))
    response = HttpResponse(content, content_type="application/octet-stream")
    # A neutral name: the original file name may name a person.
    response["Content-Disposition"] = f'attachment; filename="{reference}-attachment-{found.pk}.bin"'
    return _no_store(response)


# --- The dashboard -------------------------------------------------------------------------------------
CHART_HEIGHT = 160
BAR_WIDTH = 22
BAR_GAP = 10
CHART_LEFT = 34


def _chart(weeks: list[selectors.WeekCounts]) -> dict:
    """A stacked bar chart as SVG rectangles, computed here (no script on the page)."""
    top = max([week.total for week in weeks] + [1])
    bars = []
    for index, week in enumerate(weeks):
        x = CHART_LEFT + index * (BAR_WIDTH + BAR_GAP)
        y = CHART_HEIGHT
        segments = []
        for type_ in RequestType.values:
            count = week.by_type.get(type_, 0)
            if not count:
                continue
            height = count * CHART_HEIGHT / top
            y -= height
            segments.append({"y": round(y, 1), "height": round(height, 1), "fill": TYPE_COLOURS[type_],
                             "title": f"{RequestType(type_).label}: {count}"})
        bars.append({"x": x, "label_x": x + BAR_WIDTH / 2, "week": week.week, "total": week.total,
                     "segments": segments, "total_y": round(y - 4, 1)})
    return {"bars": bars, "width": CHART_LEFT + len(weeks) * (BAR_WIDTH + BAR_GAP), "height": CHART_HEIGHT,
            "bar_width": BAR_WIDTH, "top": top, "axis_y": CHART_HEIGHT + 14, "view_height": CHART_HEIGHT + 20}


@require_GET
@_desk_view(VIEW)
def dashboard(request):
    figures = selectors.dashboard()
    median = figures.median_time_to_close
    context = {
        "title": _("Request dashboard"),
        "figures": figures,
        "received_chart": _chart(figures.received),
        "closed_chart": _chart(figures.closed),
        "legend": [(RequestType(t).label, TYPE_COLOURS[t]) for t in RequestType.values],
        "median_days": None if median is None else round(median.total_seconds() / 86400, 1),
        "due_soon_days": selectors.DUE_SOON_DAYS,
        "now": timezone.now(),
        "queue_url": reverse("requests_desk:queue"),
    }
    return _no_store(render(request, "requests_desk/dashboard.html", context))
