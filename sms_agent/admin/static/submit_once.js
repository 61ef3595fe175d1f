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
})();
