// Live countdown of the seat hold on the checkout page. The server enforces the hold;
// this only tells the citizen how long is left. Screen readers hear it once a minute
// (and in the last minute every 15 seconds), not every second.
(function () {
  "use strict";
  var box = document.getElementById("hold-countdown");
  if (!box) { return; }
  var expires = Date.parse(box.getAttribute("data-expires"));
  if (isNaN(expires)) { return; }
  var visual = box.querySelector(".countdown-visual");
  var announce = box.querySelector(".countdown-announce");
  var template = box.getAttribute("data-text");
  var lastAnnounced = null;
  box.hidden = false;

  function format(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function tick() {
    var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    if (left === 0) {
      visual.textContent = "";
      announce.textContent = box.getAttribute("data-expired-text");
      box.classList.add("text-danger");
      var pay = document.getElementById("pay-button");
      if (pay) { pay.disabled = true; }
      return;
    }
    var text = template.replace("{time}", format(left));
    visual.textContent = text;
    var step = left <= 60 ? 15 : 60;
    var bucket = Math.ceil(left / step);
    if (bucket !== lastAnnounced) {
      lastAnnounced = bucket;
      announce.textContent = text;
    }
    window.setTimeout(tick, 1000);
  }
  tick();
})();
