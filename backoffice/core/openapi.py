"""The API's OpenAPI schema as the server behaves: each operation's error answers, the filters' bounds.

Apart from ``backoffice.core.api`` because drf-spectacular's AutoSchema imports DRF's views, which read
the REST_FRAMEWORK settings that name ``backoffice.core.api``'s classes (a cycle if they shared a module).
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

# The error bodies, as documented: {"detail": "..."} or, for a request refused field by field, the
# fields named with their messages (DRF's validation errors; ``detail`` when not about one field).
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
INVALID_SCHEMA = {
    "type": "object",
    "description": "The reason in `detail`, or each refused field or parameter named with its messages.",
    "properties": {"detail": {}},
    "additionalProperties": True,
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, with the answers every endpoint can give documented on each operation:
    401 (no or a bad token), 403 (the role may not), 404 (an id that does not exist), 400 (parameters or a
    body refused), 415 (a body of another media type). A view documents its own others (409, 413)."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        errors = {
            "401": (ERROR_SCHEMA, _("No valid API token (send `Authorization: Token <key>`).")),
            "403": (ERROR_SCHEMA, _("The token's role may not do this.")),
        }
        if "{" in self.path:
            errors["404"] = (ERROR_SCHEMA, _("No such record."))
        if self.method in WRITE_METHODS or self._is_list_view() or "{" in self.path:
            errors["400"] = (INVALID_SCHEMA, _("Refused: the reason, or the fields and parameters named."))
        if self.method in WRITE_METHODS:
            errors["415"] = (ERROR_SCHEMA, _("The body is not of a media type this endpoint reads."))
        for code, (schema, description) in errors.items():
            responses.setdefault(code, self._get_response_for_code(OpenApiResponse(schema, str(description)), code))
        return responses


class StrictFilterExtension(DjangoFilterExtension):
    """The filters' documented bounds are the ones their form fields enforce (minimum, maximum, digits),
    so generated clients and Schemathesis send what the server takes."""

    target_class = "backoffice.core.api.StrictFilterBackend"
    priority = 1

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(auto_schema, model, filterset_class, field_name, filter_field)
        form_field = filter_field.field
        for parameter in parameters:
            schema = parameter["schema"]
            # forms.DecimalField is an IntegerField too: amounts first.
            if isinstance(form_field, forms.DecimalField) and form_field.max_digits is not None:
                whole = form_field.max_digits - (form_field.decimal_places or 0)
                sign = "" if form_field.min_value is not None and form_field.min_value >= 0 else "-?"
                fraction = rf"(\.\d{{1,{form_field.decimal_places}}})?" if form_field.decimal_places else ""
                parameter["schema"] = {"type": "string", "format": "decimal", "pattern": rf"^{sign}\d{{1,{whole}}}{fraction}$"}
                continue
            # An empty value is refused (StrictFilterBackend): leave the parameter out instead.
            if schema.get("type") == "string":
                schema["minLength"] = 1
            elif schema.get("type") == "array":
                schema["minItems"] = 1
            if isinstance(form_field, forms.IntegerField):
                if not isinstance(form_field, forms.DecimalField):
                    schema["type"] = "integer"
                if form_field.min_value is not None:
                    schema["minimum"] = form_field.min_value
                if form_field.max_value is not None:
                    schema["maximum"] = form_field.max_value
        return parameters
