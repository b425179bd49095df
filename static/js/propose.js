// The proposal form shows only the details the chosen action takes.
(function () {
  "use strict";
  const form = document.getElementById("propose-form");
  if (!form) { return; }
  const select = form.querySelector("select[name=action]");
  const needs = { REFUND: ["amount"], ADJUSTMENT: ["amount", "debit_account", "credit_account", "memo"],
                  EXTEND_CARRY_OVER: ["days"] };
  function show() {
    const wanted = needs[select.value] || [];
    form.querySelectorAll("[data-param]").forEach(function (row) {
      row.hidden = wanted.indexOf(row.dataset.param) < 0;
    });
    form.querySelectorAll("[data-help]").forEach(function (help) {
      help.hidden = help.dataset.help !== select.value;
    });
  }
  select.addEventListener("change", show);
  show();
})();
