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
        // A NUL pasted with the text was refused by the server (it cannot be sent): not again.
        if (typeof kept[field.name] === "string") { field.value = kept[field.name].replace(/\u0000/g, ""); }
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

/* A create or edit form (Flask-Admin's form.admin-form) saved after the session ended is not
   saved: the login page said so, and logging in brought staff back to the form as stored,
   what they had typed lost. What the form sends is kept in this tab as it is sent, with
   the values the page showed (its hidden "-shown" fields: a field someone else changed
   meanwhile is still not saved over theirs), never a password or the CSRF token. It is
   put back only on the form it came from, reached through the login page; any other page
   forgets it (the save went through, or the form came back with its errors). */
(function () {
  "use strict";
  var place = "unsaved-form";
  var login = document.querySelector("form[data-login]");

  function pageOf(url) {
    var parsed = new URL(url, location.href);
    return parsed.pathname + parsed.search;
  }

  function kept() {
    try { return JSON.parse(sessionStorage.getItem(place) || "null"); } catch (e) { return null; }
  }

  function keep(value) {
    try {
      if (value) { sessionStorage.setItem(place, JSON.stringify(value)); } else { sessionStorage.removeItem(place); }
    } catch (e) { /* storage full or off: what is typed stays only on the page */ }
  }

  function kind(field) { return (field.getAttribute("type") || field.tagName).toLowerCase(); }

  function keepable(field) {
    return field.name && field.name !== "csrf_token" && !field.disabled &&
      ["password", "file", "submit", "button", "reset"].indexOf(kind(field)) < 0;
  }

  function putBack(form, fields) {
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!keepable(field) || !(field.name in fields)) { return; }
      var value = fields[field.name];
      if (kind(field) === "checkbox" || kind(field) === "radio") {
        field.checked = value.indexOf(field.value) >= 0;
      } else {
        field.value = value[0];
      }
      field.dispatchEvent(new Event("change", {bubbles: true}));
    });
    var notice = document.createElement("div");
    notice.className = "alert alert-info";
    notice.setAttribute("data-testid", "draft-kept");
    notice.textContent = "What you typed before logging in again is back, not saved yet: " +
      "check it and save.";
    form.parentNode.insertBefore(notice, form);
  }

  var draft = kept();
  var form = draft && document.querySelector("form.admin-form");
  if (login) {
    if (draft) { draft.atLogin = true; keep(draft); }
  } else if (draft && draft.atLogin && form && pageOf(form.action) === draft.page) {
    keep(null);
    putBack(form, draft.fields);
  } else if (draft) {
    keep(null);
  }

  document.querySelectorAll("form.admin-form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var fields = {};
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!keepable(field)) { return; }
        if ((kind(field) === "checkbox" || kind(field) === "radio") && !field.checked) {
          fields[field.name] = fields[field.name] || [];
          return;
        }
        fields[field.name] = (fields[field.name] || []).concat([field.value]);
      });
      keep({page: pageOf(form.action), fields: fields});
    });
  });
})();
