/* A create or edit form sends once: a double click on its button posted it twice (two API
   tokens, a "Save" racing itself). The server refuses a second post where it matters
   (ApiToken.submission); this keeps the browser from sending it. */
(function () {
  "use strict";
  document.querySelectorAll("form.admin-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
      form.setAttribute("data-sent", "true");
      // After the submission has taken the pressed button's name and value.
      setTimeout(function () {
        form.querySelectorAll("[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  // Back to the page from the browser's cache: the form may be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.admin-form[data-sent]").forEach(function (form) {
      form.removeAttribute("data-sent");
      form.querySelectorAll("[type=submit]").forEach(function (b) { b.disabled = false; });
    });
  });

  /* A form with a one-time key (its hidden `submission`: a staff reply, a Try it text, a
     token) is done once per key. Back after sending showed the page before it with what
     was typed still there (the browser restores it) but a new key, so sending it again
     texted the texter twice. The keys this tab sent are kept with what was sent: back (or
     reloaded) to the same fields, the form goes with the key they were sent with, and the
     server says it was done already; fields changed since are a new submission. */
  var navigation = performance.getEntriesByType("navigation")[0];
  var restored = navigation && navigation.type !== "navigate";

  function fieldsOf(form) {
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (name === "submission" || name === "csrf_token") { return; }
      var shown = typeof value === "string" ? value : value.name + ":" + value.size;
      fields.push([name, shown]);
    });
    return JSON.stringify(fields);
  }

  function sentFrom(place) {
    try { return JSON.parse(sessionStorage.getItem(place)) || []; } catch (e) { return []; }
  }

  document.querySelectorAll("form").forEach(function (form) {
    var key = form.querySelector("input[name=submission]");
    if (!key) { return; }
    var place = "sent:" + form.action;
    form.addEventListener("submit", function () {
      var fields = fieldsOf(form);
      var sent = sentFrom(place);
      var same = restored && sent.filter(function (s) { return s.fields === fields; })[0];
      if (same) { key.value = same.key; }
      sent = [{fields: fields, key: key.value}].concat(sent.filter(function (s) {
        return s.key !== key.value;
      }));
      try { sessionStorage.setItem(place, JSON.stringify(sent.slice(0, 20))); } catch (e) { /* full */ }
    });
  });
})();
