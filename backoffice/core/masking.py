"""Masking of personal data (ID numbers, phone numbers, e-mail, card and account numbers).

Staff without the ``accounts.view_personal_data`` permission see masked values on every screen, in
every export and in the API; the raw value never reaches them. Which fields hold personal data is
declared once, on each model: ``PERSONAL_FIELDS = {"field name": "mask kind"}`` (kinds: ``MASKERS``).
The admin, the screens, the exports and the API all mask through ``personal_value``.
"""

from __future__ import annotations

PERSONAL_DATA_PERMISSION = "accounts.view_personal_data"
MASK = "*"


def can_view_personal_data(user) -> bool:
    return bool(user is not None and user.is_active and user.has_perm(PERSONAL_DATA_PERMISSION))


def mask_middle(value: str | None, *, keep_start: int, keep_end: int) -> str:
    """Keep the first and last characters, star out the middle; short values are starred whole."""
    if not value:
        return ""
    text = str(value)
    if len(text) <= keep_start + keep_end:
        return MASK * len(text)
    return text[:keep_start] + MASK * (len(text) - keep_start - keep_end) + text[len(text) - keep_end :]


def mask_id_number(value: str | None) -> str:
    # 1101**********1234 for a 身份证; shorter documents (passports, permits) keep one at each end.
    if value and len(value) >= 15:
        return mask_middle(value, keep_start=4, keep_end=4)
    return mask_middle(value, keep_start=1, keep_end=1)


def mask_phone(value: str | None) -> str:
    return mask_middle(value, keep_start=3, keep_end=4)


def mask_email(value: str | None) -> str:
    if not value or "@" not in value:
        return mask_middle(value, keep_start=1, keep_end=0)
    local, domain = value.rsplit("@", 1)
    return mask_middle(local, keep_start=1, keep_end=0 if len(local) < 3 else 1) + "@" + domain


def mask_account_number(value: str | None) -> str:
    # Card and account numbers: the last four only, as printed on receipts.
    return mask_middle(value, keep_start=0, keep_end=4)


def mask_name(value: str | None) -> str:
    # A person's or payee's name: its first character only (王五 → 王*), as receipts print it.
    return mask_middle(value, keep_start=1, keep_end=0)


MASKERS = {
    "name": mask_name,
    "id_number": mask_id_number,
    "phone": mask_phone,
    "email": mask_email,
    "account_number": mask_account_number,
}


def display_personal(user, value: str | None, kind: str) -> str:
    """The value as this user may see it."""
    if can_view_personal_data(user):
        return value or ""
    return MASKERS[kind](value)


def personal_fields(model) -> dict[str, str]:
    """The model's personal fields and their mask kinds (its ``PERSONAL_FIELDS``; none declared: {})."""
    return getattr(model, "PERSONAL_FIELDS", {})


def personal_value(user, obj, field_name: str):
    """The field of ``obj`` as this user may see it: masked if it is personal and the user may not see
    personal data, as stored otherwise."""
    value = getattr(obj, field_name)
    kind = personal_fields(type(obj)).get(field_name)
    return display_personal(user, value, kind) if kind else value
