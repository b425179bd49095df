// Behaviour every page shares, kept out of the HTML (the Content-Security-Policy refuses inline handlers):
// a <select data-autosubmit> (the language switcher) submits its form when changed.
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
