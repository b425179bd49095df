"""Both languages are shipped: every message translated to zh-hans, compiled files up to date."""

from pathlib import Path

import polib
import pytest
from django.urls import reverse

LOCALE = Path(__file__).resolve().parents[2] / "locale"


def test_every_message_has_a_chinese_translation():
    po = polib.pofile(str(LOCALE / "zh_Hans/LC_MESSAGES/django.po"))
    untranslated = [e.msgid for e in po if not e.translated() or "fuzzy" in e.flags]
    assert untranslated == []
    assert len(po) > 100


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_compiled_catalogues_match_their_sources(language, tmp_path):
    po_path = LOCALE / language / "LC_MESSAGES/django.po"
    fresh = tmp_path / "django.mo"
    polib.pofile(str(po_path)).save_as_mofile(str(fresh))
    assert fresh.read_bytes() == po_path.with_suffix(".mo").read_bytes(), "run: make messages"


@pytest.mark.django_db
def test_the_browser_language_chooses_the_ui_language(client, clerk):
    client.force_login(clerk)
    zh = client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    en = client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "工作台" in zh and "清分对账后台" in zh
    assert "Dashboard" in en and "Clearing back office" in en and "工作台" not in en
    admin_zh = client.get(reverse("admin:reconciliation_channel_changelist"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "通道" in admin_zh and "结算周期" in admin_zh
