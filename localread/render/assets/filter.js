// The symbol filter of localread's HTML report: hides the symbols whose id does not
// contain what is typed. No network, no eval, no inline script (the pages' CSP forbids it).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("filter");
  var count = document.getElementById("filter-count");
  if (!box) {
    return;
  }
  var items = Array.prototype.slice.call(document.querySelectorAll("#symbols li"));
  function run() {
    var query = box.value.trim().toLowerCase();
    var shown = 0;
    items.forEach(function (item) {
      var hit = query === "" || item.getAttribute("data-name").indexOf(query) !== -1;
      item.hidden = !hit;
      if (hit) {
        shown += 1;
      }
    });
    count.textContent = shown + " of " + items.length + " symbols";
  }
  box.addEventListener("input", run);
  run();
});
