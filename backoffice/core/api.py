"""API building blocks shared by the apps."""

import json
from decimal import Decimal

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import DjangoModelPermissions

from backoffice.core.masking import display_personal, personal_fields


class ModelPermissions(DjangoModelPermissions):
    """Django model permissions, including 'view' for reads (DRF's default lets any user read)."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
    }


class UpsertPermissions(ModelPermissions):
    """A POST that creates or changes records needs both the add and the change permission."""

    perms_map = {
        **ModelPermissions.perms_map,
        "POST": ["%(app_label)s.add_%(model_name)s", "%(app_label)s.change_%(model_name)s"],
    }


class DecimalJSONParser(JSONParser):
    """JSON with numbers read as Decimal, never float: 100.1 stays exactly 100.1."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(stream.read().decode(encoding), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class ChangePermissions(ModelPermissions):
    """A POST that changes an existing record (reports an outcome) needs the change permission."""

    perms_map = {**ModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class MaskedModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that answers the model's personal fields (its PERSONAL_FIELDS) as the
    requesting user may see them, exactly as the screens show them."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        for name, kind in personal_fields(type(instance)).items():
            if name in data:
                data[name] = display_personal(user, data[name], kind)
        return data


# --- The contract every endpoint keeps: strict query parameters, JSON errors, documented answers ------

# Query parameters every endpoint takes besides its filters: DRF's format override.
ALWAYS_ALLOWED_PARAMETERS = frozenset({"format"})
# The largest id, count or offset a query parameter may carry: PostgreSQL's bigint.
BIGINT_MAX = 2**63 - 1


def _refuse_null_characters(params) -> None:
    # PostgreSQL text cannot hold NUL: refused here, named, instead of failing in the database.
    bad = sorted({name for name, value in params.lists() if any("\x00" in v for v in value)} | {n for n in params if "\x00" in n})
    if bad:
        raise ValidationError({name: [_("Null characters are not allowed.")] for name in bad})


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, strict: a list refuses (400, naming the parameter) a value its filter cannot read
    and a parameter it does not know, so a misspelt ``stauts=PENDING`` never answers every row. A detail
    URL filters nothing and takes no parameter but ``format``."""

    def filter_queryset(self, request, queryset, view):
        params = request.query_params
        _refuse_null_characters(params)
        listing = getattr(view, "action", None) == "list"
        allowed = set(ALWAYS_ALLOWED_PARAMETERS)
        filterset_class = self.get_filterset_class(view, queryset) if listing else None
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        paginator = getattr(view, "paginator", None) if listing else None
        allowed |= set(getattr(paginator, "query_parameters", ()))
        unknown = sorted(set(params) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            raise ValidationError(
                {name: [_("Unknown parameter; this URL takes: %(known)s.") % {"known": known}] for name in unknown}
            )
        empty = sorted(name for name, values in params.lists() if name in allowed and not any(v.strip() for v in values))
        if empty:
            # The screens' forms send empty fields for "any"; an API client leaves the parameter out, so an
            # empty value is a mistake (an unset variable) rather than a wish for every row.
            raise ValidationError({name: [_("Empty value: leave the parameter out instead.")] for name in empty})
        if not listing:
            return queryset
        return super().filter_queryset(request, queryset, view)


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """``limit`` and ``offset`` as documented: integers in range, else 400 naming the parameter (DRF's own
    pagination silently falls back to the default page, so a typo would look like an answer)."""

    max_limit = 1000

    @property
    def query_parameters(self) -> tuple[str, str]:
        return (self.limit_query_param, self.offset_query_param)

    def _read(self, request, name: str, *, minimum: int, maximum: int) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValidationError({name: [_("A whole number is required.")]}) from None
        if not minimum <= value <= maximum:
            raise ValidationError({name: [_("Must be from %(min)d to %(max)d.") % {"min": minimum, "max": maximum}]})
        return value

    def get_limit(self, request):
        value = self._read(request, self.limit_query_param, minimum=1, maximum=self.max_limit)
        return self.default_limit if value is None else value

    def get_offset(self, request):
        return self._read(request, self.offset_query_param, minimum=0, maximum=BIGINT_MAX) or 0

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
            self.offset_query_param: {"minimum": 0, "maximum": BIGINT_MAX},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


def _error_body(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def api_exception_handler(exc, context):
    """DRF's handler, and every error a JSON object: a bare list of messages (``raise ValidationError([...])``)
    is answered as ``{"detail": [...]}`` so that a client always reads an object."""
    from rest_framework.views import exception_handler  # here: DRF's views read these settings' classes

    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {"detail": response.data}
    return response


def _api_or(default_view, status: int, detail):
    """A root URLconf error handler: JSON under /api/ (a client never gets an HTML page), else Django's page."""

    def handler(request, exception=None, **kwargs):
        if request.path.startswith("/api/"):
            return _error_body(status, str(detail))
        if status == 500:
            return default_view(request)
        return default_view(request, exception)

    return handler


api_bad_request = _api_or(defaults.bad_request, 400, _("Bad request."))
api_permission_denied = _api_or(defaults.permission_denied, 403, _("You do not have permission to perform this action."))
api_page_not_found = _api_or(defaults.page_not_found, 404, _("Not found."))
api_server_error = _api_or(defaults.server_error, 500, _("Server error: the failure is logged; try again or report it."))
