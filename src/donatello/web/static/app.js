// DonatelloAI pages: a little progressive enhancement (everything works without it).
// - the quote and the model list follow the form as it changes;
// - the size and quality lists offer only what the chosen model offers (its option's data-sizes and
//   data-qualities); the server refuses anything else with a readable error when this script is off;
// - a generation card polls its own fragment until the generation ends;
// - forms marked data-confirm ask first;
// - tables marked data-sortable sort by a column when its heading is pressed (cells' data-value first);
// - the header's menus (disclosures that work without it) close on Escape and on a click elsewhere.
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

  // The quote of a model billed by tokens depends on the prompt's length: the page sends its length in
  // UTF-8 bytes, never the prompt itself (a URL ends up in logs).
  function promptBytes(form) {
    var encoder = new TextEncoder();
    return encoder.encode(form.elements.prompt.value).length + encoder.encode(form.elements.negative_prompt.value).length;
  }

  // Hide (and disable) the options of `select` not listed in `allowed` (space-separated); if the chosen
  // one goes, choose the first one left. True when the choice changed.
  function narrow(select, allowed) {
    var offered = (allowed || "").split(" ").filter(Boolean);
    var changed = false;
    Array.prototype.forEach.call(select.options, function (option) {
      var off = offered.length > 0 && offered.indexOf(option.value) === -1;
      option.hidden = off;
      option.disabled = off;
    });
    if (select.selectedOptions.length === 0 || select.selectedOptions[0].disabled) {
      var first = Array.prototype.find.call(select.options, function (o) { return !o.disabled; });
      if (first) { select.value = first.value; changed = true; }
    }
    return changed;
  }

  function watchGenerateForm(form) {
    var quote = document.getElementById("quote");
    var model = form.elements.model;
    var timer = null;
    // The chosen model decides which sizes and qualities are offered; true when one had to change.
    function narrowToModel() {
      var chosen = model.selectedOptions[0];
      if (!chosen) { return false; }
      var size = narrow(form.elements.size, chosen.dataset.sizes);
      var quality = narrow(form.elements.quality, chosen.dataset.qualities);
      return size || quality;
    }
    function refreshQuote() {
      fragment(form.dataset.quoteUrl + "?" + query(form, ["model", "size", "quality", "n"]) + "&prompt_bytes=" + promptBytes(form))
        .then(function (html) { quote.innerHTML = html; }).catch(function () {});
    }
    function refreshModels() {
      var params = query(form, ["size", "quality", "n"]) + "&selected=" + encodeURIComponent(model.value) + "&prompt_bytes=" + promptBytes(form);
      fragment(form.dataset.modelsUrl + "?" + params).then(function (html) {
        var chosen = model.value;
        model.innerHTML = html;
        if (!Array.prototype.some.call(model.options, function (o) { return o.value === chosen; })) { model.value = "auto"; }
        narrowToModel();
        refreshQuote();
      }).catch(function () {});
    }
    form.addEventListener("change", function (event) {
      var what = event.target.dataset.refresh;
      clearTimeout(timer);
      if (event.target === model && narrowToModel()) { what = "models"; }
      if (what === "models") { timer = setTimeout(refreshModels, 150); }
      else if (what === "quote") { timer = setTimeout(refreshQuote, 150); }
    });
    narrowToModel();
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

  function sortable(table) {
    var headings = table.querySelectorAll("thead th");
    var body = table.tBodies[0];
    function value(row, index) {
      var cell = row.cells[index];
      var raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
      var number = Number(raw);
      return raw !== "" && !isNaN(number) ? number : raw.toLowerCase();
    }
    headings.forEach(function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headings.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        Array.prototype.slice.call(body.rows).sort(function (a, b) {
          var x = value(a, index), y = value(b, index);
          return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
        }).forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function closeMenus(except) {
    document.querySelectorAll(".top details[open]").forEach(function (menu) {
      if (!menu.contains(except)) { menu.open = false; }
    });
  }

  document.addEventListener("click", function (event) { closeMenus(event.target); });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    // the innermost open menu around the focus closes, and its button keeps the focus
    var open = document.activeElement && document.activeElement.closest(".top details[open]");
    if (!open) { closeMenus(null); return; }
    open.open = false;
    open.querySelector("summary").focus();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table[data-sortable]").forEach(sortable);
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
