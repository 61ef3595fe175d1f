/* The admin's date pickers show UTC, as every list, page and form box does: they started at
   the browser's own "now" and "today", which the server then read as UTC, so staff in Los
   Angeles filtering Tasks by Created from the picker's "now" got the last eight hours off.
   moment's clock (which the pickers ask) reads the UTC wall-clock time instead; a filter's
   date box says it is UTC. */
(function () {
  "use strict";
  if (window.moment) {
    window.moment.now = function () {
      var now = new Date();
      return now.getTime() + now.getTimezoneOffset() * 60000;
    };
  }
  function sayUtc(root) {
    root.querySelectorAll("input.filter-val[data-date-format]").forEach(function (box) {
      box.placeholder = "UTC, as " + box.getAttribute("data-date-format").toUpperCase();
    });
  }
  var filters = document.querySelector(".filters");
  if (!filters) { return; }
  sayUtc(filters);
  new MutationObserver(function () { sayUtc(filters); }).observe(filters, {childList: true, subtree: true});
})();
