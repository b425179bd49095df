# Triggers planned for the rows they are given (docs/architecture.md). PL/pgSQL plans a trigger's static
# statement once per connection, with the transition tables' sizes of its first call:
# - the audit trail's update triggers run their statement by EXECUTE, planned at each call
#   (backoffice/core/history.py): a join of old and new rows planned for one row was a nested loop, quadratic
#   for the statements that followed in the connection;
# - the per-statement reference checks (0022, 0023) of an update take the rows whose references changed as a
#   set difference (EXCEPT), never a nested loop; and every check, insert or update, locks and looks up what
#   the rows refer to one distinct id at a time, in id order (a LATERAL subquery that locks cannot be
#   flattened, so the plan is an index probe per id whatever the estimates). The lock taken as a sorted
#   IN (...) was planned, for ten thousand discrepancies, as a merge join over every partition's primary key:
#   a full scan of every statement line ever kept, growing with each day of history (5.7 s at twelve days).

import importlib

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations

_0022 = importlib.import_module("reconciliation.migrations.0022_transaction_references")
_0023 = importlib.import_module("reconciliation.migrations.0023_statement_rows_partitioned")


def _function(name: str, body: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE bad record;
BEGIN{body}
    RETURN NULL;
END $$;"""


def _before(statements, name: str) -> str:
    found = next(s for s in statements if s.startswith(f"CREATE FUNCTION {name}()"))
    return found.replace("CREATE FUNCTION ", "CREATE OR REPLACE FUNCTION ", 1)


def _changed_rows(columns) -> str:
    listed = ", ".join(columns)
    return f"(SELECT {listed} FROM added EXCEPT SELECT {listed} FROM removed) AS n"


def _check(rows: str, *, column: str, referred: str, label: str, message: str, constraint: str) -> str:
    """Lock (FOR KEY SHARE, as a foreign key does) what ``rows`` refer to by ``column``, in id order, and refuse
    a reference to nothing; ``message`` takes the row's ``label`` and the reference."""
    return f"""
    SELECT k.ref, k.who INTO bad FROM (
        SELECT DISTINCT ON (n.{column}) n.{column} AS ref, n.{label} AS who FROM {rows}
        WHERE n.{column} IS NOT NULL ORDER BY n.{column}
    ) AS k
    LEFT JOIN LATERAL (SELECT r.id FROM {referred} AS r WHERE r.id = k.ref FOR KEY SHARE OF r) AS r ON true
    WHERE r.id IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '{message}', bad.who, bad.ref
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{constraint}';
    END IF;"""


# Our records' references (0022).
def _txn_checks(rows: str) -> str:
    return "".join(
        _check(
            rows,
            column=col,
            referred=table,
            label="txn_no",
            message=f"transaction % refers to {table} id %, which does not exist",
            constraint=f"platformtxn_{col}_exists",
        )
        for col, table in _0022.REFERENCES
    )


_TXN_ROWS = _changed_rows(["id", "txn_no", *(col for col, _table in _0022.REFERENCES)])
_FORWARD = [
    _function("platformtxn_references_inserted", _txn_checks("added AS n")),
    _function(
        "platformtxn_references_updated",
        f"""
    IF NOT EXISTS (SELECT 1 FROM {_TXN_ROWS}) THEN
        RETURN NULL;
    END IF;{_txn_checks(_TXN_ROWS)}""",
    ),
]
_REVERSE = [_before(_0022._STATEMENTS, f"platformtxn_references_{kind}") for kind in ("inserted", "updated")]

# The references into the partitioned statement tables (0023).
_STATEMENTS_0023 = _0023.reference_checks(_0023.REFERENCES)[0]
for _referring, _column, _referred, _constraint in _0023.REFERENCES:
    _base = f"{_constraint.removesuffix('_exists')}_reference"
    for _kind, _rows in (("inserted", "added AS n"), ("updated", _changed_rows(["id", _column]))):
        _FORWARD.append(
            _function(
                f"{_base}_{_kind}",
                _check(
                    _rows,
                    column=_column,
                    referred=_referred,
                    label="id",
                    message=f"{_referring} id % refers to {_referred} id %, which does not exist",
                    constraint=_constraint,
                ),
            )
        )
        _REVERSE.append(_before(_STATEMENTS_0023, f"{_base}_{_kind}"))


class Migration(migrations.Migration):

    dependencies = [
        ('reconciliation', '0023_statement_rows_partitioned'),
    ]

    operations = [
        migrations.RunSQL(_FORWARD, reverse_sql=_REVERSE),
        pgtrigger.migrations.RemoveTrigger(
            model_name='adjustment',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='bank',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='bankaccount',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='channel',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='claim',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='discrepancy',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='feemodel',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='feetier',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='holiday',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='platformtransaction',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='refundorder',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='resolution',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='statementformat',
            name='update_update',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='statementsource',
            name='update_update',
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='adjustment',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_adjustmentevent" ("amount", "created_at", "credit_account", "currency", "debit_account", "id", "memo", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "resolution_id", "status", "voucher_id") SELECT new_values."amount", new_values."created_at", new_values."credit_account", new_values."currency", new_values."debit_account", new_values."id", new_values."memo", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."resolution_id", new_values."status", new_values."voucher_id" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='a477e66b9c18df68e23dc5942ce003f65777bccc', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_19092', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_adjustment', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='bank',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_bankevent" ("cnaps_code", "code", "id", "is_active", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "swift_bic") SELECT new_values."cnaps_code", new_values."code", new_values."id", new_values."is_active", new_values."name", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."swift_bic" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='e5020c6e4a2a48affc6d923ef246bf37d0c4af2c', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_9728c', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_bank', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='bankaccount',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_bankaccountevent" ("account_name", "account_no", "bank_id", "branch", "currency", "id", "is_active", "kind", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id") SELECT new_values."account_name", new_values."account_no", new_values."bank_id", new_values."branch", new_values."currency", new_values."id", new_values."is_active", new_values."kind", _pgh_attached_context.value, NOW(), \'update\', new_values."id" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='a9cb90458bc1d687573c6d400541c5acb1b43a6c', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_79cb9', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_bankaccount', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='channel',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_channelevent" ("amount_tolerance", "approval_threshold", "bank_id", "calendar", "carry_over_days", "code", "currency", "cutoff_time", "double_payment_window_hours", "fee_tolerance", "id", "is_active", "kind", "match_key", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "settlement_account_id", "settlement_cycle", "settlement_times", "statement_ready_time", "write_off_threshold") SELECT new_values."amount_tolerance", new_values."approval_threshold", new_values."bank_id", new_values."calendar", new_values."carry_over_days", new_values."code", new_values."currency", new_values."cutoff_time", new_values."double_payment_window_hours", new_values."fee_tolerance", new_values."id", new_values."is_active", new_values."kind", new_values."match_key", new_values."name", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."settlement_account_id", new_values."settlement_cycle", new_values."settlement_times", new_values."statement_ready_time", new_values."write_off_threshold" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='e7754720945e063579f97ba419abd93ec5226c11', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_c41b6', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_channel', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='claim',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_claimevent" ("amount", "confirmed_by_id", "counterparty", "currency", "id", "kind", "opened_at", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "recovered_at", "reference", "reported_at", "reported_by_id", "resolution_id", "status") SELECT new_values."amount", new_values."confirmed_by_id", new_values."counterparty", new_values."currency", new_values."id", new_values."kind", new_values."opened_at", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."recovered_at", new_values."reference", new_values."reported_at", new_values."reported_by_id", new_values."resolution_id", new_values."status" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='8c2c8d5994ab1debe461f07fdbb8958d7597f3af', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_d11f0', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_claim', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='discrepancy',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_discrepancyevent" ("assigned_to_id", "bank_amount", "bank_fee", "bank_status", "batch_no", "business_date", "carry_until", "channel_id", "closed_as", "counterpart_date", "created_at", "currency", "direction", "effect", "expected_fee", "fund_movement_id", "id", "manual_pairing_id", "match_key", "matched_run_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "platform_amount", "platform_fee", "platform_status", "platform_txn_id", "related_txn_id", "resolved_at", "run_id", "state", "statement_line_id", "type", "updated_at", "workflow_started_at") SELECT new_values."assigned_to_id", new_values."bank_amount", new_values."bank_fee", new_values."bank_status", new_values."batch_no", new_values."business_date", new_values."carry_until", new_values."channel_id", new_values."closed_as", new_values."counterpart_date", new_values."created_at", new_values."currency", new_values."direction", new_values."effect", new_values."expected_fee", new_values."fund_movement_id", new_values."id", new_values."manual_pairing_id", new_values."match_key", new_values."matched_run_id", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."platform_amount", new_values."platform_fee", new_values."platform_status", new_values."platform_txn_id", new_values."related_txn_id", new_values."resolved_at", new_values."run_id", new_values."state", new_values."statement_line_id", new_values."type", new_values."updated_at", new_values."workflow_started_at" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='c533bb5acb527fe385cd0315316fe8c98be3ab9b', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_7aad2', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_discrepancy', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='feemodel',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_feemodelevent" ("business_type", "channel_id", "charged_account_id", "charging_mode", "fixed_amount", "id", "max_fee", "min_fee", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "rate", "rounding", "valid_from", "valid_to") SELECT new_values."business_type", new_values."channel_id", new_values."charged_account_id", new_values."charging_mode", new_values."fixed_amount", new_values."id", new_values."max_fee", new_values."min_fee", new_values."name", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."rate", new_values."rounding", new_values."valid_from", new_values."valid_to" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='8a821bb52719ed9a41fb3e31d9551fa95dba3a05', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_9b187', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_feemodel', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='feetier',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_feetierevent" ("fee_model_id", "fixed_amount", "id", "lower_bound", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "rate") SELECT new_values."fee_model_id", new_values."fixed_amount", new_values."id", new_values."lower_bound", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."rate" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='e752987f9b8ce1cff637001a1a6d2ee2c0681f2a', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_d8ef6', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_feetier', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='holiday',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_holidayevent" ("day", "id", "kind", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id") SELECT new_values."day", new_values."id", new_values."kind", new_values."name", _pgh_attached_context.value, NOW(), \'update\', new_values."id" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='db739cebed7f69cfec40ce84ba87aa3ad5921b7a', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_3185c', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_holiday', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='platformtransaction',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_platformtransactionevent" ("account_id", "amount", "batch_no", "business_date", "business_type", "channel_id", "channel_txn_no", "completed_at", "confirmed_at", "counterparty_account", "counterparty_name", "created_at", "currency", "fee", "id", "merchant_id", "order_no", "origin", "original_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "receipt_id", "received_at", "source_line_id", "status", "txn_no", "updated_at") SELECT new_values."account_id", new_values."amount", new_values."batch_no", new_values."business_date", new_values."business_type", new_values."channel_id", new_values."channel_txn_no", new_values."completed_at", new_values."confirmed_at", new_values."counterparty_account", new_values."counterparty_name", new_values."created_at", new_values."currency", new_values."fee", new_values."id", new_values."merchant_id", new_values."order_no", new_values."origin", new_values."original_id", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."receipt_id", new_values."received_at", new_values."source_line_id", new_values."status", new_values."txn_no", new_values."updated_at" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='34287a108ccdaa2301281efe56e791de747929dd', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_eb334', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_platformtransaction', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='refundorder',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_refundorderevent" ("amount", "created_at", "currency", "id", "original_channel_txn_no", "original_txn_id", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "refund_no", "refund_txn_id", "reported_at", "resolution_id", "status") SELECT new_values."amount", new_values."created_at", new_values."currency", new_values."id", new_values."original_channel_txn_no", new_values."original_txn_id", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."refund_no", new_values."refund_txn_id", new_values."reported_at", new_values."resolution_id", new_values."status" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='cd4392bbf38363c1ff3a0a411ce1198e62eac160', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_d6826', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_refundorder', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='resolution',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_resolutionevent" ("action", "amount", "currency", "decided_at", "discrepancy_id", "executed_at", "id", "needs_second_approval", "outcome", "params", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "proposed_at", "proposed_by_id", "reason", "status") SELECT new_values."action", new_values."amount", new_values."currency", new_values."decided_at", new_values."discrepancy_id", new_values."executed_at", new_values."id", new_values."needs_second_approval", new_values."outcome", new_values."params", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."proposed_at", new_values."proposed_by_id", new_values."reason", new_values."status" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='d61ae9360110e066b6231656ac7cfd10b8514a03', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_24c7a', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_resolution', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statementformat',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_statementformatevent" ("channel_id", "config", "encoding", "format_code", "id", "is_default", "kind", "name", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "refuse_repeated_lines", "strict_totals") SELECT new_values."channel_id", new_values."config", new_values."encoding", new_values."format_code", new_values."id", new_values."is_default", new_values."kind", new_values."name", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."refuse_repeated_lines", new_values."strict_totals" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values.* IS DISTINCT FROM new_values.*) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='62b94dcfc8eb68d78056566b97dd11ee6f01cd8f', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_17f58', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_statementformat', when='AFTER')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='statementsource',
            trigger=pgtrigger.compiler.Trigger(name='update_update', sql=pgtrigger.compiler.UpsertTriggerSql(func='EXECUTE $pgh_event$WITH _pgh_attached_context AS ( SELECT _pgh_attach_context() AS value ) INSERT INTO "reconciliation_statementsourceevent" ("channel_id", "fetch_time", "filename_pattern", "host", "host_key", "id", "is_active", "kind", "password_env", "path", "pgh_context_id", "pgh_created_at", "pgh_label", "pgh_obj_id", "port", "private_key_path", "transport", "username") SELECT new_values."channel_id", new_values."fetch_time", new_values."filename_pattern", new_values."host", new_values."host_key", new_values."id", new_values."is_active", new_values."kind", new_values."password_env", new_values."path", _pgh_attached_context.value, NOW(), \'update\', new_values."id", new_values."port", new_values."private_key_path", new_values."transport", new_values."username" FROM ( SELECT new_values.* FROM old_values JOIN new_values ON (old_values."id") = (new_values."id") WHERE (old_values."channel_id" IS DISTINCT FROM (new_values."channel_id") OR old_values."fetch_time" IS DISTINCT FROM (new_values."fetch_time") OR old_values."filename_pattern" IS DISTINCT FROM (new_values."filename_pattern") OR old_values."host" IS DISTINCT FROM (new_values."host") OR old_values."host_key" IS DISTINCT FROM (new_values."host_key") OR old_values."id" IS DISTINCT FROM (new_values."id") OR old_values."is_active" IS DISTINCT FROM (new_values."is_active") OR old_values."kind" IS DISTINCT FROM (new_values."kind") OR old_values."password_env" IS DISTINCT FROM (new_values."password_env") OR old_values."path" IS DISTINCT FROM (new_values."path") OR old_values."port" IS DISTINCT FROM (new_values."port") OR old_values."private_key_path" IS DISTINCT FROM (new_values."private_key_path") OR old_values."transport" IS DISTINCT FROM (new_values."transport") OR old_values."username" IS DISTINCT FROM (new_values."username")) ) AS new_values, _pgh_attached_context$pgh_event$;\nRETURN NULL;', hash='44b9401a654e7d50bf954145deec883f4cd349db', level='STATEMENT', operation='UPDATE', pgid='pgtrigger_update_update_387a3', referencing='REFERENCING OLD TABLE AS old_values  NEW TABLE AS new_values ', table='reconciliation_statementsource', when='AFTER')),
        ),
    ]
