// The reconciliation upload: sends the form with XMLHttpRequest so the page can show how much of the
// file has gone up; the server's answer decides what follows (the result, the queued item, or the
// form's own problem note, the chosen file kept). Without this script the form posts as usual.
// The list reloads itself while a reconciliation is queued or running.
"use strict";
(function () {
  function problemNote(text) {
    var note = document.createElement("div");
    note.className = "notice";
    note.setAttribute("role", "alert");
    note.dataset.testid = "upload-problem";
    var line = document.createElement("p");
    var strong = document.createElement("strong");
    strong.textContent = "The file was not compared. ";
    line.appendChild(strong);
    line.appendChild(document.createTextNode(text));
    note.appendChild(line);
    return note;
  }

  function showProblem(form, note) {
    var old = form.parentNode.querySelector("[data-testid=upload-problem]");
    if (old) { old.remove(); }
    form.parentNode.insertBefore(note, form);
  }

  // The answer's form marks a field it refused (aria-invalid and the message beside it): mark the same
  // field here, so the message sits beside it whether or not this script sent the form.
  function markFields(form, answer) {
    form.querySelectorAll(".field-error").forEach(function (old) { old.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
    });
    answer.querySelectorAll("form[data-upload] [aria-invalid=true]").forEach(function (refused) {
      var field = form.elements[refused.name];
      var message = answer.getElementById(refused.id + "-error");
      if (!field || !message) { return; }
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", refused.getAttribute("aria-describedby"));
      field.insertAdjacentElement("afterend", document.importNode(message, true));
    });
  }

  function upload(form) {
    var box = form.querySelector("[data-upload-progress]");
    var bar = box.querySelector("progress");
    var status = box.querySelector("[data-upload-status]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      var file = form.elements.file.files[0];
      var max = Number(form.dataset.maxBytes);
      if (file && max && file.size > max) {
        event.preventDefault();
        showProblem(form, problemNote("The file has " + file.size.toLocaleString("en-AU") +
          " bytes; cost files are accepted up to " + max.toLocaleString("en-AU") + " bytes."));
        return;
      }
      event.preventDefault();
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.upload.addEventListener("progress", function (progress) {
        if (!progress.lengthComputable) { return; }
        var percent = Math.floor((progress.loaded / progress.total) * 100);
        bar.value = percent;
        if (percent < 100) { status.textContent = percent + " % sent"; }
      });
      request.upload.addEventListener("load", function () {
        bar.value = 100;
        status.textContent = "Sent; comparing…";
      });
      request.addEventListener("load", function () {
        if (request.status < 400) { window.location.assign(request.responseURL); return; }
        button.disabled = false;
        box.hidden = true;
        var type = request.getResponseHeader("Content-Type") || "";
        var note = null;
        if (type.indexOf("text/html") === 0) {
          var answer = new DOMParser().parseFromString(request.responseText, "text/html");
          markFields(form, answer);
          note = answer.querySelector("[data-testid=upload-problem]");
          if (note) { note = document.importNode(note, true); }
          else {
            var heading = answer.querySelector("main h1");
            note = problemNote(heading ? heading.textContent : "The upload was refused (HTTP " + request.status + ").");
          }
        } else {
          var detail = "The upload was refused (HTTP " + request.status + ").";
          try { detail = JSON.parse(request.responseText).detail || detail; } catch (e) { /* not JSON */ }
          note = problemNote(detail);
        }
        note.tabIndex = -1;
        showProblem(form, note);
        note.focus();
      });
      request.addEventListener("error", function () {
        button.disabled = false;
        box.hidden = true;
        showProblem(form, problemNote("The connection broke while sending the file; try again."));
      });
      button.disabled = true;
      box.hidden = false;
      bar.value = 0;
      status.textContent = "0 % sent";
      request.send(new FormData(form));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-upload]").forEach(upload);
    if (document.querySelector("[data-pending]")) {
      setTimeout(function () { window.location.reload(); }, 3000);
    }
  });
})();
