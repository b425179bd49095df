"""Clerk screens for statements: the list, the upload with its live progress, a file's detail."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from backoffice.core.masking import personal_value
from reconciliation.models import (
    FundMovement,
    StatementFile,
    StatementKind,
    StatementLine,
)
from reconciliation.selectors.statements import statement_file_list
from reconciliation.services.intake.statements import StatementRefused, statement_receive
from reconciliation.web.forms import (
    StatementUploadForm,
)
from reconciliation.web.presenters import raw_pairs

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
        },
    )


@permission_required("reconciliation.add_statementfile", raise_exception=True)
@require_http_methods(["GET", "POST"])
def statement_upload(request):
    """Take in several files at once; each is parsed by a worker while the page shows its progress."""
    results: list[dict] = []
    if request.method == "POST":
        form = StatementUploadForm(request.POST, request.FILES)
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
                    results.append({"name": upload.name, "error": str(exc), "duplicate_of": exc.duplicate_of})
            for result in results:
                if result.get("file"):
                    result["file"].refresh_from_db()
            form = StatementUploadForm(initial={"channel": data["channel"], "kind": data["kind"]})
    else:
        form = StatementUploadForm()
    template = "reconciliation/_upload_results.html" if request.htmx else "reconciliation/statement_upload.html"
    return render(request, template, {"form": form, "results": results})


@permission_required("reconciliation.view_statementfile", raise_exception=True)
def statement_progress(request, pk: int):
    """The progress fragment of one file; it keeps polling itself until the file is parsed or failed."""
    statement_file = get_object_or_404(StatementFile.objects.select_related("channel"), pk=pk)
    return render(request, "reconciliation/_statement_progress.html", {"f": statement_file})


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
    return render(
        request,
        "reconciliation/statement_detail.html",
        {
            "f": statement_file,
            "page": page,
            "business": statement_file.kind == StatementKind.BUSINESS,
        },
    )
