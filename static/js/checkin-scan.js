// Check-in: scan a ticket's QR code with the phone's rear camera, where the browser has
// the BarcodeDetector API and a camera. Progressive enhancement: without them the scan
// controls stay hidden, and typing the code in the form always works.
(function () {
  "use strict";
  var box = document.getElementById("scan");
  var form = document.getElementById("checkin-form");
  var field = form && form.querySelector("input[name='code']");
  if (!box || !field || !("BarcodeDetector" in window) || !navigator.mediaDevices ||
      !navigator.mediaDevices.getUserMedia) {
    return;
  }
  var startButton = document.getElementById("scan-start");
  var stopButton = document.getElementById("scan-stop");
  var video = document.getElementById("scan-video");
  var status = document.getElementById("scan-status");
  var detector = null;
  var stream = null;
  var timer = null;

  function hasCamera() {
    if (!navigator.mediaDevices.enumerateDevices) { return Promise.resolve(true); }
    return navigator.mediaDevices.enumerateDevices().then(function (devices) {
      return devices.some(function (d) { return d.kind === "videoinput"; });
    });
  }

  function formats() {
    var get = window.BarcodeDetector.getSupportedFormats;
    return get ? get.call(window.BarcodeDetector) : Promise.resolve(["qr_code"]);
  }

  function stop() {
    if (timer) { window.clearTimeout(timer); timer = null; }
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    video.srcObject = null;
    video.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  function scan() {
    if (!stream) { return; }
    detector.detect(video).then(function (codes) {
      var value = codes.length ? String(codes[0].rawValue || "").trim() : "";
      if (!value) { timer = window.setTimeout(scan, 250); return; }
      field.value = value;
      status.textContent = box.dataset.foundText + " " + value;
      stop();
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }).catch(function () { timer = window.setTimeout(scan, 500); });
  }

  function start() {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        stopButton.hidden = false;
        startButton.hidden = true;
        status.textContent = box.dataset.scanningText;
        return video.play();
      })
      .then(scan)
      .catch(function () {
        stop();
        status.textContent = box.dataset.noCameraText;
        field.focus();
      });
  }

  Promise.all([formats(), hasCamera()]).then(function (results) {
    if (results[0].indexOf("qr_code") === -1 || !results[1]) { return; }
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    startButton.addEventListener("click", start);
    stopButton.addEventListener("click", function () { stop(); status.textContent = ""; field.focus(); });
    box.hidden = false;
  }).catch(function () { /* no scanner: typing works */ });
})();
