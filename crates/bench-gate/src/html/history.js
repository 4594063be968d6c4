(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var tip = document.getElementById("tip");
  var NS = "http://www.w3.org/2000/svg";
  function show(v, s) {
    var x = v / s.div, digits = Math.abs(x) >= 1000 ? 0 : 4 - Math.max(1, Math.floor(Math.log10(Math.abs(x) || 1)) + 1);
    return x.toFixed(Math.max(0, digits)) + (s.suf ? " " + s.suf : "");
  }
  var figures = document.querySelectorAll("figure.chart");
  figures.forEach(function (figure) {
    var s = data.series[Number(figure.dataset.series)];
    var svg = figure.querySelector("svg");
    if (!s || !svg) { throw new Error("chart without its series: " + figure.id); }
    var m = s.map;
    var dot = document.createElementNS(NS, "circle");
    dot.setAttribute("r", "5");
    dot.setAttribute("fill", "none");
    dot.setAttribute("stroke", "#ff7f0e");
    dot.setAttribute("stroke-width", "2");
    dot.setAttribute("visibility", "hidden");
    svg.appendChild(dot);
    svg.addEventListener("mousemove", function (event) {
      var point = svg.createSVGPoint();
      point.x = event.clientX;
      point.y = event.clientY;
      var local = point.matrixTransform(svg.getScreenCTM().inverse());
      var i = Math.round((local.x - m[0]) / m[1]);
      i = Math.max(0, Math.min(s.v.length - 1, i));
      var value = s.v[i];
      var y = Math.max(m[4], Math.min(m[5], value / s.div));
      dot.setAttribute("cx", String(m[0] + m[1] * i));
      dot.setAttribute("cy", String(m[2] + m[3] * y));
      dot.setAttribute("visibility", "visible");
      var run = data.runs[s.r[i]];
      tip.textContent = s.id + "\nrun " + i + ": " + show(value, s) + "\ncommit " + run[0] + "\n" + run[1];
      tip.hidden = false;
      tip.style.left = (event.pageX + 14) + "px";
      tip.style.top = (event.pageY + 14) + "px";
    });
    svg.addEventListener("mouseleave", function () {
      dot.setAttribute("visibility", "hidden");
      tip.hidden = true;
    });
  });
  document.documentElement.dataset.charts = String(figures.length);
  document.documentElement.dataset.series = String(data.series.length);
})();
