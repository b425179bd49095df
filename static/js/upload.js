// Drag and drop onto the upload form, the list of chosen files, and the upload's own progress bar.
(function () {
  "use strict";
  const zone = document.getElementById("dropzone");
  if (!zone) { return; }
  const input = zone.querySelector("input[type=file]");
  const list = document.getElementById("chosen-files");
  const form = zone.closest("form");
  const bar = document.getElementById("upload-progress");
  const note = document.getElementById("upload-note");

  function showChosen() {
    list.replaceChildren(...Array.from(input.files).map(function (file) {
      const item = document.createElement("li");
      item.textContent = file.name + " (" + Math.max(1, Math.round(file.size / 1024)).toLocaleString() + " KB)";
      return item;
    }));
  }
  input.addEventListener("change", showChosen);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    const transfer = new DataTransfer();
    Array.from(input.files).concat(Array.from(event.dataTransfer.files)).forEach(function (f) { transfer.items.add(f); });
    input.files = transfer.files;
    showChosen();
  });
  form.addEventListener("htmx:xhr:progress", function (event) {
    if (event.detail.lengthComputable) {
      bar.hidden = false; note.hidden = false;
      bar.value = Math.round(event.detail.loaded / event.detail.total * 100);
    }
  });
  form.addEventListener("htmx:afterRequest", function () {
    bar.hidden = true; note.hidden = true; bar.value = 0;
    input.value = ""; showChosen();
  });
})();
