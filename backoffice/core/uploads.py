"""Upload size enforced while the request body streams in, not once all of it has arrived.

``SizeLimitUploadHandler`` comes first in FILE_UPLOAD_HANDLERS. A request whose Content-Length is bigger
than STATEMENT_MAX_BYTES plus a margin for the form's other fields is refused at its first file, before a
byte of it is read; any other upload stops as soon as one file passes STATEMENT_MAX_BYTES. Nothing past the
limit is ever kept (not in memory, not in a temporary file). The refusal is left on the request: a view that
takes files reads it with ``upload_refusal(request)`` and answers with it (a form error, an API 413) instead
of a missing file.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.utils.translation import gettext as _

# Room for the form's other fields and the multipart framing around a file at the limit (bytes).
FORM_MARGIN_BYTES = 1 << 20
_REFUSAL = "upload_refused"  # the request attribute holding the refusal's text


def _megabytes(size: int) -> int:
    return size // (1 << 20)


def upload_refusal(request) -> str | None:
    """Why the request's upload was refused (the text to show), or None. Reads the body if nobody has yet:
    the handlers only run then. Works on a Django request and on a REST framework one."""
    request.FILES  # noqa: B018 (parsing the body is what runs the upload handlers)
    return getattr(request, _REFUSAL, None)


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops an upload at STATEMENT_MAX_BYTES per file while it streams in."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = settings.STATEMENT_MAX_BYTES
        self.request_too_big = False

    def _refuse(self, reason: str) -> None:
        if self.request is not None:
            setattr(self.request, _REFUSAL, reason)

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # Not refused here, unread: the fields before the first file (the CSRF token among them) are still
        # read, so the refusal reaches the view instead of a CSRF failure. new_file stops at the first file.
        self.request_too_big = content_length > self.limit + FORM_MARGIN_BYTES

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        if self.request_too_big:
            self._refuse(
                _("the upload is too big: more than %(limit)d MB (STATEMENT_MAX_BYTES); upload big files one at a time")
                % {"limit": _megabytes(self.limit)}
            )
            # Not a byte of the file is read, nor the rest of the body: the client may see the connection
            # closed before it has sent everything, the price of not taking in gigabytes to refuse them.
            raise StopUpload(connection_reset=True)
        if content_length is not None and content_length > self.limit:  # a part that declares its own size
            self._too_big()

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self._too_big()
        return raw_data

    def _too_big(self):
        # The same words as statement_receive's own refusal of a file too big.
        reason = _("the file is too big: more than %(limit)d MB (STATEMENT_MAX_BYTES)") % {"limit": _megabytes(self.limit)}
        self._refuse(f"{self.file_name}: {reason}" if self.file_name else reason)
        # The rest of the body is read and dropped, not kept (at most the margin, as Content-Length was
        # checked), so the client gets the answer rather than a reset connection.
        raise StopUpload(connection_reset=False)

    def file_complete(self, file_size):
        return None  # the next handlers keep the file
