// socialfusion report tables: sort by a column, search the rows, download them as CSV. No network, no libraries.
// Each <table class="data-table"> carries its rows in data-rows: {"columns": [...], "rows": [[[shown, raw], ...]],
// "total": n}. The page lists the first data-max-rows rows; this script re-lists them after a sort or a search.
(function () {
  "use strict";

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null) return 1; // empty cells last, whichever the direction
    if (b === null) return -1;
    if (typeof a === "number" && typeof b === "number") return a < b ? -1 : 1;
    if (typeof a === "boolean" && typeof b === "boolean") return a ? 1 : -1;
    return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
  }

  function csvField(value) {
    if (value === null || value === undefined) return "";
    var text = String(value);
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function plural(count, noun) {
    return count.toLocaleString("en-US") + " " + noun + (count === 1 ? "" : "s");
  }

  function enhance(table) {
    var data = JSON.parse(table.getAttribute("data-rows"));
    var maxRows = parseInt(table.getAttribute("data-max-rows"), 10) || 50;
    var filename = table.getAttribute("data-filename") || "table.csv";
    var block = table.closest(".block");
    var wrap = table.closest(".table-wrap");
    var note = block.querySelector(".more-rows");
    var state = { query: "", column: -1, direction: 1 };
    var rows = data.rows.map(function (cells, index) {
      var text = cells.map(function (cell) { return cell[0]; }).join("\u0000").toLowerCase();
      return { cells: cells, index: index, text: text };
    });

    var tools = document.createElement("div");
    tools.className = "table-tools";
    var search = document.createElement("input");
    search.type = "search";
    search.className = "table-search";
    search.placeholder = "Search";
    search.setAttribute("aria-label", "Search the rows of this table");
    var count = document.createElement("span");
    count.className = "table-count";
    count.setAttribute("aria-live", "polite");
    var download = document.createElement("button");
    download.type = "button";
    download.className = "table-download";
    download.textContent = "Download CSV";
    tools.appendChild(search);
    tools.appendChild(count);
    tools.appendChild(download);
    block.insertBefore(tools, wrap);
    if (!note) {
      note = document.createElement("p");
      note.className = "more-rows";
      note.hidden = true;
      wrap.parentNode.insertBefore(note, wrap.nextSibling);
    }

    var headers = Array.prototype.slice.call(table.querySelectorAll("thead th"));
    headers.forEach(function (header, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.title = "Sort by this column";
      while (header.firstChild) button.appendChild(header.firstChild);
      header.appendChild(button);
      header.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        state.direction = state.column === column ? -state.direction : 1;
        state.column = column;
        headers.forEach(function (other, index) {
          other.setAttribute("aria-sort", index !== column ? "none" : state.direction > 0 ? "ascending" : "descending");
        });
        render();
      });
    });

    function view() {
      var query = state.query.trim().toLowerCase();
      var shown = query ? rows.filter(function (row) { return row.text.indexOf(query) !== -1; }) : rows.slice();
      if (state.column >= 0) {
        shown.sort(function (a, b) {
          var x = a.cells[state.column][1], y = b.cells[state.column][1];
          var order = x === null || y === null ? compare(x, y) : state.direction * compare(x, y);
          return order || a.index - b.index;
        });
      }
      return shown;
    }

    function render() {
      var shown = view();
      var body = document.createElement("tbody");
      shown.slice(0, maxRows).forEach(function (row) {
        var line = document.createElement("tr");
        row.cells.forEach(function (cell) {
          var td = document.createElement("td");
          if (cell[1] === null) { td.className = "null"; td.textContent = "\u2014"; }
          else { if (typeof cell[1] === "number") td.className = "num"; td.textContent = cell[0]; }
          line.appendChild(td);
        });
        body.appendChild(line);
      });
      table.replaceChild(body, table.tBodies[0]);
      var hidden = shown.length - Math.min(shown.length, maxRows);
      var matching = state.query.trim() ? plural(shown.length, "matching row") : "";
      count.textContent = matching;
      note.hidden = hidden === 0 && data.total <= rows.length;
      var parts = [];
      if (hidden) parts.push(plural(hidden, "more row") + " not shown.");
      if (data.total > rows.length) {
        parts.push("This page holds the first " + plural(rows.length, "row") + " of " +
                   data.total.toLocaleString("en-US") + "; socialfusion export writes them all.");
      }
      note.textContent = parts.join(" ");
    }

    search.addEventListener("input", function () { state.query = search.value; render(); });
    download.addEventListener("click", function () {
      var lines = [data.columns.map(csvField).join(",")];
      view().forEach(function (row) {
        lines.push(row.cells.map(function (cell) { return csvField(cell[1]); }).join(","));
      });
      // A byte-order mark, so that spreadsheets read the file as UTF-8 (Chinese text, emoji).
      var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = filename;
      document.body.appendChild(link);
      link.click();
      document.body.removeChild(link);
      setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);  // once the download has started
    });
    render();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table.data-table[data-rows]"), enhance);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
