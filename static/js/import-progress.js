// Progress of a delivery import: polls the page's JSON (?format=json) every two seconds
// and updates the bar, the counts and the status. The sentence in the aria-live region
// changes at most every ten seconds while running (screen readers are not flooded) and
// once when the import ends. Without JavaScript the page has a "Refresh" link.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.getAttribute("data-finished") === "true" || !window.fetch) { return; }
  var url = box.getAttribute("data-url");
  var bar = document.getElementById("import-bar");
  var sentence = box.querySelector('[data-field="text"]');
  var status = box.querySelector('[data-field="status"]');
  var refresh = box.querySelector('[data-role="refresh"]');
  var labels = {};
  try { labels = JSON.parse(box.getAttribute("data-labels") || "{}"); } catch (e) { labels = {}; }
  var lastSpoken = Date.now();
  var failures = 0;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
    });
  }

  function setField(name, value) {
    var element = box.querySelector('[data-field="' + name + '"]');
    if (element) { element.textContent = value; }
  }

  function show(state) {
    var values = {processed: state.processed_rows, total: state.total_rows, imported: state.imported,
                  duplicates: state.duplicates, refused: state.rows_refused};
    setField("total_rows", state.total_rows || (state.finished ? 0 : "\u2014"));
    setField("imported", state.imported);
    setField("duplicates", state.duplicates);
    setField("rows_refused", state.rows_refused);
    setField("error_count", state.error_count);
    if (status) { status.textContent = labels[state.status] || state.status; }
    if (state.status === "done") {
      bar.max = 100; bar.value = 100; bar.textContent = "100%";
    } else if (state.total_rows) {
      bar.max = state.total_rows; bar.value = state.processed_rows; bar.textContent = state.percent + "%";
    }
    var message;
    if (state.status === "done") {
      message = fill(box.getAttribute("data-text-done"), values);
    } else if (state.status === "failed") {
      message = fill(box.getAttribute("data-text-failed"), values);
    } else if (state.total_rows) {
      message = fill(box.getAttribute("data-text-progress"), values);
    } else {
      message = box.getAttribute("data-text-waiting");
    }
    if (message !== sentence.textContent && (state.finished || Date.now() - lastSpoken >= 10000)) {
      sentence.textContent = message;
      lastSpoken = Date.now();
    }
    if (state.finished && refresh) {
      refresh.textContent = box.getAttribute("data-text-show");  // reloads with the error report
    }
    return !state.finished;
  }

  function poll() {
    window.fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (state) {
        failures = 0;
        if (show(state)) { schedule(); }
      })
      .catch(function () {
        failures += 1;
        if (failures < 5) { schedule(); }  // then the Refresh link is still there
      });
  }

  function schedule() { window.setTimeout(poll, 2000); }
  schedule();
})();
