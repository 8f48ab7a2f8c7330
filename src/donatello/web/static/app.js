// DonatelloAI pages: a little progressive enhancement (everything works without it).
// - the quote and the model list follow the form as it changes;
// - a generation card polls its own fragment until the generation ends;
// - forms marked data-confirm ask first.
"use strict";
(function () {
  function fragment(url) {
    return fetch(url, { headers: { "X-Fragment": "1" }, credentials: "same-origin" }).then(function (response) {
      if (response.status === 401) { window.location.reload(); throw new Error("signed out"); }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    });
  }

  function query(form, names) {
    var params = new URLSearchParams();
    names.forEach(function (name) { params.set(name, form.elements[name].value); });
    return params.toString();
  }

  function watchGenerateForm(form) {
    var quote = document.getElementById("quote");
    var model = form.elements.model;
    var timer = null;
    function refreshQuote() {
      fragment(form.dataset.quoteUrl + "?" + query(form, ["model", "size", "quality", "n"]))
        .then(function (html) { quote.innerHTML = html; }).catch(function () {});
    }
    function refreshModels() {
      var params = query(form, ["size", "quality", "n"]) + "&selected=" + encodeURIComponent(model.value);
      fragment(form.dataset.modelsUrl + "?" + params).then(function (html) {
        var chosen = model.value;
        model.innerHTML = html;
        if (!Array.prototype.some.call(model.options, function (o) { return o.value === chosen; })) { model.value = "auto"; }
        refreshQuote();
      }).catch(function () {});
    }
    form.addEventListener("change", function (event) {
      var what = event.target.dataset.refresh;
      clearTimeout(timer);
      if (what === "models") { timer = setTimeout(refreshModels, 150); }
      else if (what === "quote") { timer = setTimeout(refreshQuote, 150); }
    });
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; button.textContent = "Sending…"; }
    });
  }

  function poll(card) {
    var url = card.dataset.pollUrl;
    if (!url) { return; }
    setTimeout(function () {
      fragment(url).then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var next = holder.firstElementChild;
        if (!next) { return; }
        card.replaceWith(next);
        poll(next);
      }).catch(function () { setTimeout(function () { poll(card); }, 3000); });
    }, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("generate-form");
    if (form) { watchGenerateForm(form); }
    document.querySelectorAll("[data-poll-url]").forEach(poll);
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (event) {
        if (!window.confirm(f.dataset.confirm)) { event.preventDefault(); }
      });
    });
  });
})();
