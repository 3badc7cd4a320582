// Progress of a report being made: asks the server every two seconds and updates the
// progress bar and the (polite, live) status line; the download link appears when ready.
// Without JavaScript the page's "Refresh" link does the same.
(function () {
  var box = document.getElementById("report-status");
  if (!box || box.dataset.running !== "true") return;
  var bar = document.getElementById("report-progress");
  var text = document.getElementById("report-status-text");
  var download = document.getElementById("report-download");
  function poll() {
    fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.value = data.progress;
        bar.textContent = data.progress + "%";
        var strong = document.createElement("strong");
        strong.textContent = data.label;
        text.replaceChildren(strong);
        if (data.message) text.append(": " + data.message);
        if (data.ready && data.download) {
          var link = document.createElement("a");
          link.className = "btn btn-primary";
          link.href = data.download;
          link.textContent = box.dataset.downloadText;
          download.replaceChildren(link);
        } else if (data.status === "queued" || data.status === "running") {
          setTimeout(poll, 2000);
        } else {
          download.replaceChildren();
        }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
