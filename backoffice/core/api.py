"""API building blocks shared by the apps."""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import ParseError
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
