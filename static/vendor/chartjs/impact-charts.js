/* The territory dashboard's charts: each <canvas class="impact-chart"> draws the columns
   (data-columns, 1-based after the row header) of the table named by data-table, reading
   the raw numbers from each cell's data-value. The table stays on the page beside the chart:
   it is the accessible version and the source of the figures. Chart.js 4 (MIT), served locally. */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var palette = ["#0066cc", "#d9364f", "#008758", "#a66300", "#5c2f91", "#1f3a5f"];
  document.querySelectorAll("canvas.impact-chart").forEach(function (canvas) {
    var table = document.getElementById(canvas.dataset.table);
    if (!table) { return; }
    var columns = canvas.dataset.columns.split(",").map(Number);
    var headers = table.querySelectorAll("thead th");
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    var labels = rows.map(function (row) { return row.querySelector("th").textContent.trim(); });
    var datasets = columns.map(function (column, i) {
      return {
        label: headers[column].textContent.trim(),
        data: rows.map(function (row) {
          var cell = row.querySelectorAll("td")[column - 1];
          var value = cell ? parseFloat(cell.dataset.value) : NaN;
          return isNaN(value) ? null : value;
        }),
        backgroundColor: canvas.dataset.type === "doughnut" ? palette : palette[i % palette.length],
        borderColor: canvas.dataset.type === "doughnut" ? "#ffffff" : palette[i % palette.length],
        yAxisID: canvas.dataset.type === "doughnut" ? undefined : (i === 0 ? "y" : "y" + i)
      };
    });
    var scales = {};
    if (canvas.dataset.type !== "doughnut") {
      datasets.forEach(function (set, i) {
        scales[set.yAxisID] = {beginAtZero: true, position: i === 0 ? "left" : "right",
                               grid: {drawOnChartArea: i === 0}};
      });
    }
    new window.Chart(canvas, {
      type: canvas.dataset.type || "bar",
      data: {labels: labels, datasets: datasets},
      options: {animation: false, responsive: true, maintainAspectRatio: false, scales: scales}
    });
  });
})();
