// The queue: tick all rows at once; the carry-over fields only when extending.
(function () {
  "use strict";
  const all = document.getElementById("tick-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = all.checked; });
    });
  }
  const action = document.querySelector("#bulk-form select[name=bulk_action]");
  const extra = document.querySelector("#bulk-form .extend-fields");
  function toggle() { extra.hidden = action.value !== "extend"; }
  if (action && extra) { action.addEventListener("change", toggle); toggle(); }
})();
