/* What staff type in a form is kept in this tab until the page says it went out: when the
   session ended, "Log in again" (or Send, which then sends nothing) left the page, and
   the login brought staff back to an empty box, what they had typed lost. A form keeps the
   fields marked data-kept under its data-draft name while its text box holds something;
   the page that says it went out marks the form data-draft-sent, and the copy is dropped. */
(function () {
  "use strict";
  document.querySelectorAll("form[data-draft]").forEach(function (form) {
    var place = "draft:" + form.getAttribute("data-draft");
    var fields = Array.prototype.slice.call(form.querySelectorAll("[data-kept]"));
    var text = form.querySelector("textarea[data-kept]");
    if (!text) { return; }

    function keep() {
      var kept = {};
      fields.forEach(function (field) { kept[field.name] = field.value; });
      try {
        if (text.value) { sessionStorage.setItem(place, JSON.stringify(kept)); } else { sessionStorage.removeItem(place); }
      } catch (e) { /* storage full or off: what is typed stays only on the page */ }
    }

    function putBack(kept) {
      fields.forEach(function (field) {
        if (typeof kept[field.name] === "string") { field.value = kept[field.name]; }
      });
      var notice = form.querySelector("[data-testid=draft-kept]");
      if (notice) { notice.classList.remove("d-none"); }
    }

    try {
      if (form.hasAttribute("data-draft-sent")) {
        sessionStorage.removeItem(place);
      } else if (!text.value) {
        var kept = JSON.parse(sessionStorage.getItem(place) || "null");
        if (kept && kept[text.name]) { putBack(kept); }
      }
    } catch (e) { /* storage off, or not ours */ }
    form.addEventListener("input", keep);
    form.addEventListener("change", keep);
  });
})();
