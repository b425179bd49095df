"""Clerk screens for statements: the list, the upload with its live progress, a file's detail."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from backoffice.core.masking import personal_value
from backoffice.core.uploads import upload_refusal
from reconciliation.models import (
    FundMovement,
    StatementFile,
    StatementKind,
    StatementLine,
)
from reconciliation.selectors.statements import statement_file_list
from reconciliation.services.intake.corrections import CorrectionRefused, statement_parse_again, statement_replace
from reconciliation.services.intake.messages import located
from reconciliation.services.intake.statements import StatementRefused, statement_receive
from reconciliation.services.jobs import Job, queued_not_sent
from reconciliation.web.forms import ReplaceForm, StatementUploadForm
from reconciliation.web.presenters import filter_notice, raw_pairs

LIST_PAGE_SIZE = 50
LINES_PAGE_SIZE = 100


@permission_required("reconciliation.view_statementfile", raise_exception=True)
def statement_list(request):
    found = statement_file_list(params=request.GET)
    form = found.form
    page = Paginator(found.qs, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reconciliation/statement_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "filter_notice": filter_notice(found, path=request.path),
        },
    )


@permission_required("reconciliation.add_statementfile", raise_exception=True)
@require_http_methods(["GET", "POST"])
def statement_upload(request):
    """Take in several files at once; each is parsed by a worker while the page shows its progress."""
    results: list[dict] = []
    if request.method == "POST":
        form = StatementUploadForm(request.POST, request.FILES, upload_refusal=upload_refusal(request))
        if form.is_valid():
            data = form.cleaned_data
            for upload in data["files"]:
                try:
                    with transaction.atomic():
                        statement_file = statement_receive(
                            channel=data["channel"],
                            content=upload,
                            original_name=upload.name,
                            source=StatementFile.Source.UPLOAD,
                            acting_user=request.user,
                            now=timezone.now(),
                            kind=data["kind"] or None,
                            statement_date=data["statement_date"],
                            parse_later=True,
                        )
                    results.append({"name": upload.name, "file": statement_file})
                except StatementRefused as exc:
                    # The row names the file; the reason says where in it, in the reader's language.
                    error = located(exc.reason, line=exc.line, field=exc.field)
                    results.append({"name": upload.name, "error": error, "duplicate_of": exc.duplicate_of})
            for result in results:
                if result.get("file"):
                    result["file"].refresh_from_db()
                    _mark_waiting_for_broker(result["file"])
            form = StatementUploadForm(initial={"channel": data["channel"], "kind": data["kind"]})
    else:
        form = StatementUploadForm()
    template = "reconciliation/_upload_results.html" if request.htmx else "reconciliation/statement_upload.html"
    return render(request, template, {"form": form, "results": results})


@permission_required("reconciliation.view_statementfile", raise_exception=True)
def statement_progress(request, pk: int):
    """The progress fragment of one file; it keeps polling itself until the file is parsed or failed."""
    statement_file = get_object_or_404(StatementFile.objects.select_related("channel"), pk=pk)
    _mark_waiting_for_broker(statement_file)
    return render(request, "reconciliation/_statement_progress.html", {"f": statement_file})


def _mark_waiting_for_broker(statement_file: StatementFile) -> None:
    """A received file whose parse job the broker has not taken yet is shown as queued, not as lost."""
    statement_file.waiting_for_broker = statement_file.status == StatementFile.Status.RECEIVED and queued_not_sent(
        Job.STATEMENT_PARSE, statement_file_id=statement_file.pk
    )


@permission_required("reconciliation.view_statementfile", raise_exception=True)
def statement_detail(request, pk: int):
    statement_file = get_object_or_404(
        StatementFile.objects.select_related("channel", "uploaded_by", "bank_account__bank", "statement_format"), pk=pk
    )
    if statement_file.kind == StatementKind.BUSINESS:
        rows = StatementLine.objects.filter(file=statement_file).order_by("line_no")
    else:
        rows = FundMovement.objects.filter(file=statement_file).select_related("bank_account").order_by("line_no")
    page = Paginator(rows, LINES_PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page.object_list:
        row.raw_pairs = raw_pairs(statement_file, row.raw, request.user)
        if isinstance(row, FundMovement):
            row.counterparty_account = personal_value(request.user, row, "counterparty_account")
            row.counterparty_name = personal_value(request.user, row, "counterparty_name")
    return render(
        request,
        "reconciliation/statement_detail.html",
        {
            "f": statement_file,
            "page": page,
            "business": statement_file.kind == StatementKind.BUSINESS,
            "replaces": StatementFile.objects.filter(superseded_by=statement_file).select_related("superseded_by_user").first(),
            "replace_form": ReplaceForm(statement_file=statement_file) if _replaceable(statement_file) else None,
        },
    )


def _replaceable(statement_file: StatementFile) -> bool:
    """A file that is current and replaces nothing yet may be marked as the corrected version of another."""
    return (
        statement_file.superseded_by_id is None
        and statement_file.status != StatementFile.Status.FAILED
        and not StatementFile.objects.filter(superseded_by=statement_file).exists()
    )


@permission_required("reconciliation.add_statementfile", raise_exception=True)
@require_http_methods(["POST"])
def statement_replace_view(request, pk: int):
    """Mark this file as the channel's corrected version of an earlier one (reason required)."""
    statement_file = get_object_or_404(StatementFile.objects.select_related("channel"), pk=pk)
    form = ReplaceForm(request.POST, statement_file=statement_file)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("reconciliation:statement_detail", pk=pk)
    try:
        statement_replace(
            replaced=form.cleaned_data["replaces"],
            replacement=statement_file,
            reason=form.cleaned_data["reason"],
            acting_user=request.user,
            now=timezone.now(),
        )
    except CorrectionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Recorded: this file replaces #%(id)s; the date is reconciled again.") % {"id": form.cleaned_data["replaces"].pk},
        )
    return redirect("reconciliation:statement_detail", pk=pk)


@permission_required("reconciliation.add_statementfile", raise_exception=True)
@require_http_methods(["POST"])
def statement_parse_again_view(request, pk: int):
    statement_file = get_object_or_404(StatementFile.objects.select_related("channel"), pk=pk)
    try:
        statement_parse_again(statement_file=statement_file, acting_user=request.user, now=timezone.now())
    except CorrectionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The file is parsed again with the channel's current format."))
    return redirect("reconciliation:statement_detail", pk=pk)
