// Sortable tables: a click on a column's header sorts each <tbody> by that column (again: the
// other way); cells sort by their data-v number when they have one ("" = none: last either way),
// else by their text. "#sort=KEY" or "#sort=-KEY" in the address sorts on load by the header
// whose data-key is KEY (descending with "-"): a sorted view can be linked.
(function () {
  "use strict";
  function value(cell) {
    if (!cell) return null;
    var v = cell.getAttribute("data-v");
    if (v === null) return cell.textContent.trim().toLowerCase();
    return v === "" ? null : parseFloat(v);
  }
  function sortTable(table, column, descending) {
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    heads[column].setAttribute("aria-sort", descending ? "descending" : "ascending");
    Array.prototype.forEach.call(table.tBodies, function (body) {
      var rows = Array.prototype.filter.call(body.rows, function (r) { return !r.classList.contains("section"); });
      rows.sort(function (a, b) {
        var x = value(a.cells[column]), y = value(b.cells[column]);
        if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
        var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return descending ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  }
  function byKey(key) {
    var th = document.querySelector("table.sortable th[data-key='" + key.replace(/[^a-z0-9-]/g, "") + "']");
    return th ? { table: th.closest("table"), column: th.cellIndex } : null;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      function toggle() { sortTable(table, th.cellIndex, th.getAttribute("aria-sort") === "ascending"); }
      th.addEventListener("click", toggle);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
    });
  });
  var asked = /[#&]sort=(-?)([a-z0-9-]+)/.exec(window.location.hash);
  var found = asked && byKey(asked[2]);
  if (found) sortTable(found.table, found.column, asked[1] === "-");
  window.edgebenchSort = sortTable;
  document.documentElement.setAttribute("data-sortable", "ready");
})();
