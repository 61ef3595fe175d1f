/* The admin's date pickers show UTC, as every list, page and form box does: they started at
   the browser's own "now" and "today", which the server then read as UTC, so staff in Los
   Angeles filtering Tasks by Created from the picker's "now" got the last eight hours off.
   moment's clock (which the pickers ask) reads the UTC wall-clock time instead, their
   calendars mark the UTC day as today, and a filter's date box says it is UTC. */
(function () {
  "use strict";
  if (window.moment) {
    window.moment.now = function () {
      var now = new Date();
      return now.getTime() + now.getTimezoneOffset() * 60000;
    };
  }
  /* The calendars marked as today the browser's own day (daterangepicker compares each day
     with `new Date()`, not with moment's clock): in Kiritimati, the day after UTC's. After
     each drawing, the UTC day is marked instead. */
  function markUtcToday(picker) {
    var today = window.moment();
    [["left", picker.leftCalendar], ["right", picker.rightCalendar]].forEach(function (side) {
      picker.container.find(".calendar." + side[0] + " td[data-title]").each(function () {
        var at = /^r(\d+)c(\d+)$/.exec(this.getAttribute("data-title"));
        var day = at && side[1].calendar[at[1]][at[2]];
        this.classList.toggle("today", Boolean(day) && !this.classList.contains("disabled") &&
          day.isSame(today, "day"));
      });
    });
  }
  /* Found as each picker opens (this script may come before the pickers' own, and a
     filter's picker is made later): from then on its every drawing marks the UTC day. */
  if (window.jQuery) {
    window.jQuery(document).on("show.daterangepicker", function (_event, picker) {
      var drawing = Object.getPrototypeOf(picker);
      if (!drawing.marksUtcToday) {
        var draw = drawing.updateCalendars;
        drawing.updateCalendars = function () {
          draw.apply(this, arguments);
          markUtcToday(this);
        };
        drawing.marksUtcToday = true;
      }
      markUtcToday(picker);
    });
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
