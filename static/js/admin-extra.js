// Third-party admin pages made to work under the Content-Security-Policy, which refuses inline scripts:
// their behaviour is attached from here instead.
(function () {
  "use strict";
  // django-celery-beat's periodic task form: the chosen crontab explained in words under the field
  // (its own inline script, dropped by templates/admin/djcelery/change_periodictask_form.html).
  const data = document.getElementById("readable-crontabs");
  const select = document.getElementById("id_crontab");
  const help = document.querySelector(".field-crontab .help");
  if (data && select && help) {
    const readable = JSON.parse(data.textContent);
    const original = help.textContent;
    const labelled = document.getElementById("crontab-meaning-label");
    const label = labelled ? labelled.textContent : "";
    document.querySelectorAll(".field-crontab_translation").forEach(function (row) { row.hidden = true; });
    select.addEventListener("change", function () {
      const meaning = readable[select.value];
      help.replaceChildren(document.createTextNode(original));
      if (meaning) {
        help.append(document.createElement("br"), document.createTextNode(label + " " + meaning));
      }
    });
  }
})();
