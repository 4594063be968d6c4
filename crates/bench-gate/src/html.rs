//! The history report (`history check --html`): one self-contained HTML file (inline
//! CSS, SVG and script; no network), grouped by machine and bench family, with a trend
//! chart per benchmark ([`chart::trend`]: points, rolling median, change points; the
//! commit and value on hover), each instruction-count series beside the wall-time
//! series it measures, the change points found, and the latest `ab` or `check` verdict
//! with each benchmark's minimum detectable effect.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Deserialize;

use crate::chart::{self, Mark, Scale};
use crate::history::{Checked, Found, Movement, Run, Series};
use crate::model::Unit;

/// A verdict report as `check --json` and `ab --json` write it (the fields the page
/// shows; the rest is ignored).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Verdicts {
    /// One row per benchmark, worst first.
    pub comparisons: Vec<VerdictRow>,
    /// `ab`'s head commit, when the report is `ab`'s.
    #[serde(default)]
    pub head: Option<String>,
    /// `ab`'s base, when the report is `ab`'s.
    #[serde(default)]
    pub base: Option<serde_json::Value>,
    /// `ab`'s rounds, when the report is `ab`'s.
    #[serde(default)]
    pub rounds: Option<usize>,
}

/// One benchmark's verdict in a verdict report.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct VerdictRow {
    /// The benchmark.
    pub id: String,
    /// `critical`, `warning`, `improved`, `unchanged`, `inconclusive`, `new`, `missing`,
    /// `incomparable`.
    pub verdict: String,
    /// The change, `current / baseline − 1`.
    #[serde(default)]
    pub change: Option<f64>,
    /// The minimum detectable effect (`ab`).
    #[serde(default)]
    pub mde: Option<f64>,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// The unit of `current` and `baseline`.
    #[serde(default)]
    pub unit: Option<Unit>,
    /// This run's value.
    #[serde(default)]
    pub current: Option<f64>,
    /// The baseline's value.
    #[serde(default)]
    pub baseline: Option<f64>,
}

/// Everything the page shows.
#[derive(Clone, Copy, Debug)]
pub struct Page<'a> {
    /// Where the history came from (shown in the header).
    pub source: &'a str,
    /// The runs, in file order.
    pub runs: &'a [Run],
    /// Every series, sorted by (machine, id).
    pub series: &'a [Series],
    /// What the change-point check found.
    pub checked: &'a Checked,
    /// The regressions that fail the check (after `--since`).
    pub failing: &'a [Found],
    /// What reading the history left out.
    pub warnings: &'a [String],
    /// The latest verdict report and its file name, if given.
    pub verdict: Option<(&'a str, &'a Verdicts)>,
}

/// Chart size in SVG pixels (the page scales it to its column).
const CHART: (u32, u32) = (560, 230);

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON string literal that is also inert inside `<script>`: `<`, `>` and `&` as
/// `\u` escapes, so no id can close the script or open a tag.
fn js_string(text: &str) -> String {
    serde_json::to_string(text)
        .unwrap_or_else(|_| "\"\"".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The bench family of an id: its first path segment.
pub fn family(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// For each instruction-count series (unit `count`), the wall-time series of the same
/// machine it measures, if exactly one matches: the count's id without its first
/// segment (the bench file, for gungraun; `instructions` for `bench-gate count`) is
/// the wall-time id or its end, after dropping a `_x<N>` repeat suffix
/// (`instructions/token_bucket/try_acquire_x1000` →
/// `rate_limiters/token_bucket/try_acquire`).
pub fn partners(series: &[Series]) -> HashMap<usize, usize> {
    let mut by_tail: HashMap<(&str, String), Vec<usize>> = HashMap::new();
    for (i, s) in series.iter().enumerate() {
        if s.unit == Some(Unit::Nanoseconds) {
            by_tail
                .entry((&s.machine, s.id.clone()))
                .or_default()
                .push(i);
            let mut rest = s.id.as_str();
            while let Some((_, tail)) = rest.split_once('/') {
                by_tail
                    .entry((&s.machine, tail.to_owned()))
                    .or_default()
                    .push(i);
                rest = tail;
            }
        }
    }
    let mut out = HashMap::new();
    for (i, s) in series.iter().enumerate() {
        if s.unit != Some(Unit::Count) {
            continue;
        }
        let Some((_, tail)) = s.id.split_once('/') else {
            continue;
        };
        let mut candidates = vec![tail.to_owned()];
        if let Some((head, repeat)) = tail.rsplit_once("_x")
            && !repeat.is_empty()
            && repeat.bytes().all(|b| b.is_ascii_digit())
        {
            candidates.push(head.to_owned());
        }
        for c in candidates {
            if let Some(walls) = by_tail.get(&(s.machine.as_str(), c))
                && let [wall] = walls[..]
            {
                out.insert(i, wall);
                break;
            }
        }
    }
    out
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{:+.2} %", 100.0 * x))
}

fn verdict_table(out: &mut String, name: &str, v: &Verdicts) {
    let _ = write!(out, "<section id=\"verdict\"><h2>Latest verdict</h2><p>");
    let _ = write!(out, "From <code>{}</code>", escape(name));
    if let Some(head) = &v.head {
        let base = v
            .base
            .as_ref()
            .and_then(|b| b.get("commit").and_then(|c| c.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let _ = write!(
            out,
            " (<code>bench-gate ab</code>: base <code>{}</code>, head <code>{}</code>, {} rounds)",
            escape(&base),
            escape(head),
            v.rounds.unwrap_or(0)
        );
    }
    let counts = v.comparisons.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.verdict.as_str()).or_insert(0usize) += 1;
        m
    });
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let _ = write!(out, ": {}.</p>", escape(&summary.join(", ")));
    out.push_str(
        "<table><thead><tr><th>benchmark</th><th>verdict</th><th>baseline</th><th>current</th>\
         <th>change</th><th>MDE</th><th>why</th></tr></thead><tbody>",
    );
    for r in &v.comparisons {
        let scale = Scale::of(r.unit, r.baseline.or(r.current).unwrap_or(1.0));
        let value = |x: Option<f64>| x.map_or_else(|| "–".into(), |x| scale.show(x));
        let _ = write!(
            out,
            "<tr class=\"v-{verdict}\"><td><a href=\"#{anchor}\"><code>{id}</code></a></td><td>{verdict}</td>\
             <td class=\"n\">{base}</td><td class=\"n\">{cur}</td><td class=\"n\">{change}</td>\
             <td class=\"n\">{mde}</td><td>{reason}</td></tr>",
            verdict = escape(&r.verdict),
            anchor = escape(&anchor_of(&r.id)),
            id = escape(&r.id),
            base = escape(&value(r.baseline)),
            cur = escape(&value(r.current)),
            change = percent(r.change),
            mde = r
                .mde
                .map_or_else(|| "–".into(), |m| format!("{:.2} %", 100.0 * m)),
            reason = escape(&r.reason),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn anchor_of(id: &str) -> String {
    let mut out = String::from("b-");
    out.extend(
        id.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }),
    );
    out
}

fn change_table(out: &mut String, found: &[Found], failing: &[Found]) {
    let _ = write!(
        out,
        "<section id=\"change-points\"><h2>Change points ({})</h2>",
        found.len()
    );
    if found.is_empty() {
        out.push_str("<p>None: every judged series is one level from its first run to its last.</p></section>");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>benchmark</th><th>machine</th><th>first run after</th>\
         <th>change</th><th>p</th><th></th></tr></thead><tbody>",
    );
    for f in found {
        let counted = failing.iter().any(|g| g == f);
        let kind = match f.direction {
            Movement::Regression => "regression",
            Movement::Improvement => "improvement",
        };
        let _ = write!(
            out,
            "<tr class=\"{kind}\"><td><a href=\"#{anchor}\"><code>{id}</code></a></td><td>{machine}</td>\
             <td><code>{commit}</code> (run {index})</td><td class=\"n\">{change}</td><td class=\"n\">{p:.4}</td>\
             <td>{kind}{counted}</td></tr>",
            anchor = escape(&anchor_of(&f.id)),
            id = escape(&f.id),
            machine = escape(&f.machine),
            commit = escape(short(&f.commit)),
            index = f.index,
            change = percent(Some(f.change)),
            p = f.p,
            counted = if counted { ", fails the check" } else { "" },
        );
    }
    out.push_str("</tbody></table></section>");
}

fn short(commit: &str) -> &str {
    if commit.len() > 12 && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        &commit[..12]
    } else {
        commit
    }
}

/// Renders the page.
pub fn render(page: &Page) -> Result<String, String> {
    let found_by: HashMap<(&str, &str), Vec<&Found>> =
        page.checked.found.iter().fold(HashMap::new(), |mut m, f| {
            m.entry((f.machine.as_str(), f.id.as_str()))
                .or_default()
                .push(f);
            m
        });
    let too_short: HashMap<(&str, &str), usize> = page
        .checked
        .too_short
        .iter()
        .map(|(id, machine, runs)| ((machine.as_str(), id.as_str()), *runs))
        .collect();
    let verdict_of: HashMap<&str, &VerdictRow> = page
        .verdict
        .map(|(_, v)| v.comparisons.iter().map(|r| (r.id.as_str(), r)).collect())
        .unwrap_or_default();
    let run_index: HashMap<(&str, &str), usize> = page
        .runs
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.machine.as_str(), r.commit.as_str()), i))
        .collect();
    let partner = partners(page.series);
    let beside: HashMap<usize, usize> = partner.iter().map(|(&i, &w)| (w, i)).collect();

    // The charts, and the data the hover needs.
    let mut data = String::from("{\"runs\":[");
    for (i, r) in page.runs.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        let _ = write!(data, "[{},{}]", js_string(&r.commit), js_string(&r.date));
    }
    data.push_str("],\"series\":[");
    let mut figures = Vec::with_capacity(page.series.len());
    for (i, s) in page.series.iter().enumerate() {
        let values = s.values();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let scale = Scale::of(s.unit, sorted[sorted.len() / 2]);
        let shown: Vec<f64> = values.iter().map(|v| v / scale.divisor).collect();
        let found = found_by
            .get(&(s.machine.as_str(), s.id.as_str()))
            .cloned()
            .unwrap_or_default();
        let marks: Vec<Mark> = found
            .iter()
            .map(|f| Mark {
                index: f.index,
                change: f.change,
                regression: f.direction == Movement::Regression,
            })
            .collect();
        let counted = if partner.contains_key(&i) {
            "instructions"
        } else {
            "count"
        };
        let y_label = match (s.unit, scale.suffix) {
            (Some(Unit::Count), "") => counted.to_owned(),
            (Some(Unit::Count), k) => format!("{k} {counted}"),
            (_, suffix) => suffix.to_owned(),
        };
        let drawn = chart::trend(&shown, &marks, &y_label, CHART)?;
        if i > 0 {
            data.push(',');
        }
        let m = drawn.mapping;
        let _ = write!(
            data,
            "{{\"id\":{},\"div\":{},\"suf\":{},\"map\":[{},{},{},{},{},{}],\"r\":[",
            js_string(&s.id),
            scale.divisor,
            js_string(scale.suffix),
            m.x0,
            m.dx,
            m.y0,
            m.dy,
            m.lo,
            m.hi
        );
        for (k, (commit, _, _)) in s.points.iter().enumerate() {
            if k > 0 {
                data.push(',');
            }
            let index = run_index
                .get(&(s.machine.as_str(), commit.as_str()))
                .copied()
                .unwrap_or(0);
            let _ = write!(data, "{index}");
        }
        data.push_str("],\"v\":[");
        for (k, v) in values.iter().enumerate() {
            if k > 0 {
                data.push(',');
            }
            data.push_str(&chart::significant(*v, 7));
        }
        data.push_str("]}");

        // The figure.
        let mut figure = String::new();
        let kind = if partner.contains_key(&i) {
            "chart instructions"
        } else {
            "chart"
        };
        let latest = values.last().copied().unwrap_or(0.0);
        let _ = write!(
            figure,
            "<figure class=\"{kind}\" id=\"{anchor}\" data-series=\"{i}\"><figcaption><code>{id}</code> \
             <span class=\"latest\">latest {latest}, {runs} runs</span>",
            anchor = escape(&format!(
                "{}{}",
                anchor_of(&s.id),
                if page.series.iter().filter(|t| t.id == s.id).count() > 1 {
                    format!("-{i}")
                } else {
                    String::new()
                }
            )),
            id = escape(&s.id),
            latest = escape(&scale.show(latest)),
            runs = values.len(),
        );
        for f in &found {
            let kind = match f.direction {
                Movement::Regression => "regression",
                Movement::Improvement => "improvement",
            };
            let _ = write!(
                figure,
                " <span class=\"badge {kind}\">{kind} {} at <code>{}</code></span>",
                percent(Some(f.change)),
                escape(short(&f.commit))
            );
        }
        if let Some(runs) = too_short.get(&(s.machine.as_str(), s.id.as_str())) {
            let _ = write!(
                figure,
                " <span class=\"badge short\">too short to judge ({runs} runs)</span>"
            );
        }
        if let Some(v) = verdict_of.get(s.id.as_str()) {
            let mde = v
                .mde
                .map_or_else(String::new, |m| format!(", MDE {:.2} %", 100.0 * m));
            let _ = write!(
                figure,
                " <span class=\"badge v-{verdict}\">latest verdict: {verdict} {change}{mde}</span>",
                verdict = escape(&v.verdict),
                change = percent(v.change),
            );
        }
        figure.push_str("</figcaption>");
        figure.push_str(&drawn.svg);
        figure.push_str("</figure>");
        figures.push(figure);
    }
    data.push_str("]}");

    // Machines, then families, then benchmarks; an instruction count beside its partner.
    let mut out =
        String::with_capacity(figures.iter().map(String::len).sum::<usize>() + data.len() + 16_384);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    out.push_str("<title>Benchmark history</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head><body>");
    let machines: Vec<&str> = {
        let mut m: Vec<&str> = page.series.iter().map(|s| s.machine.as_str()).collect();
        m.dedup();
        m
    };
    let first = page.runs.first().map_or("", |r| r.date.as_str());
    let last = page.runs.last().map_or("", |r| r.date.as_str());
    let _ = write!(
        out,
        "<header><h1>Benchmark history</h1><p><code>{}</code>: {} runs from {} to {}, {} series on {} machine{}; \
         {} change point{}, {} regression{} failing the check; {} too short to judge.</p>",
        escape(page.source),
        page.runs.len(),
        escape(first),
        escape(last),
        page.series.len(),
        machines.len(),
        if machines.len() == 1 { "" } else { "s" },
        page.checked.found.len(),
        if page.checked.found.len() == 1 {
            ""
        } else {
            "s"
        },
        page.failing.len(),
        if page.failing.len() == 1 { "" } else { "s" },
        page.checked.too_short.len(),
    );
    let _ = write!(
        out,
        "<p class=\"legend\"><span class=\"dot\"></span> a run &nbsp; <span class=\"median\"></span> \
         rolling median of {window} runs &nbsp; <span class=\"cp worse\"></span> regression &nbsp; \
         <span class=\"cp better\"></span> improvement &nbsp; <span class=\"out\">▲</span> beyond the axis (hover for its value) \
         &nbsp; <span class=\"pairkey\"></span> wall time and its instruction count</p>",
        window = 2 * chart::ROLLING_HALF_WINDOW + 1
    );
    if !page.warnings.is_empty() {
        let _ = write!(
            out,
            "<details><summary>{} warnings reading the history</summary><ul>",
            page.warnings.len()
        );
        for w in page.warnings {
            let _ = write!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul></details>");
    }
    out.push_str("</header><main>");
    if let Some((name, v)) = page.verdict {
        verdict_table(&mut out, name, v);
    }
    change_table(&mut out, &page.checked.found, page.failing);
    for machine in &machines {
        let _ = write!(
            out,
            "<section class=\"machine\"><h2>Machine <code>{}</code></h2>",
            escape(machine)
        );
        let mut families: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, s) in page.series.iter().enumerate() {
            if s.machine == *machine && !partner.contains_key(&i) {
                families.entry(family(&s.id)).or_default().push(i);
            }
        }
        let _ = write!(out, "<nav>");
        for (f, members) in &families {
            let _ = write!(
                out,
                "<a href=\"#f-{m}-{a}\">{name} ({n})</a> ",
                m = escape(&anchor_of(machine)),
                a = escape(&anchor_of(f)),
                name = escape(f),
                n = members.len()
            );
        }
        out.push_str("</nav>");
        for (f, members) in &families {
            let _ = write!(
                out,
                "<section class=\"family\" id=\"f-{m}-{a}\"><h3>{name}</h3><div class=\"grid\">",
                m = escape(&anchor_of(machine)),
                a = escape(&anchor_of(f)),
                name = escape(f)
            );
            for &i in members {
                match beside.get(&i) {
                    Some(&j) => {
                        out.push_str("<div class=\"pair\">");
                        out.push_str(&figures[i]);
                        out.push_str(&figures[j]);
                        out.push_str("</div>");
                    }
                    None => out.push_str(&figures[i]),
                }
            }
            out.push_str("</div></section>");
        }
        out.push_str("</section>");
    }
    out.push_str(
        "</main><div id=\"tip\" hidden></div><script type=\"application/json\" id=\"report-data\">",
    );
    out.push_str(&data);
    out.push_str("</script><script>");
    out.push_str(SCRIPT);
    out.push_str("</script></body></html>\n");
    Ok(out)
}

const STYLE: &str = r#"
body{font-family:system-ui,sans-serif;margin:0 1.5rem 3rem;color:#222;background:#fafafa}
h1{margin:1rem 0 .3rem}h2{margin:1.6rem 0 .5rem}h3{margin:1.2rem 0 .4rem;border-bottom:1px solid #ddd}
code{font-family:ui-monospace,monospace;font-size:.92em}
table{border-collapse:collapse;font-size:.9rem;background:#fff}th,td{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.v-critical td,tr.regression td{background:#fdecea}tr.v-warning td{background:#fff6e0}tr.v-improved td,tr.improvement td{background:#eaf6ea}tr.v-inconclusive td{background:#f3eefa}
nav a{margin-right:.6rem}
.grid{display:flex;flex-wrap:wrap;gap:.8rem}
.pair{display:flex;gap:.8rem;flex-wrap:wrap;padding:.3rem;border:1px dashed #ccc;border-radius:6px}
figure.chart{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:.3rem;width:560px;max-width:100%}
figure.chart svg{width:100%;height:auto;display:block}
figure.instructions{background:#f7f7ff}
figcaption{font-size:.82rem;line-height:1.5;min-height:2.6em}
.latest{color:#666}
.badge{display:inline-block;border-radius:3px;padding:0 .3rem;font-size:.78rem;background:#eee}
.badge.regression,.badge.v-critical{background:#d62728;color:#fff}.badge.improvement,.badge.v-improved{background:#2ca02c;color:#fff}
.badge.v-warning{background:#f0ad4e}.badge.v-inconclusive{background:#9467bd;color:#fff}.badge.short{background:#999;color:#fff}
.legend{font-size:.85rem;color:#444}
.legend .dot{display:inline-block;width:6px;height:6px;border-radius:3px;background:#4c78a8}
.legend .median{display:inline-block;width:18px;border-top:2px solid #222;vertical-align:middle}
.legend .cp{display:inline-block;height:12px;border-left:2px dashed;vertical-align:middle}
.legend .pairkey{display:inline-block;width:18px;height:10px;border:1px dashed #aaa;vertical-align:middle}
.legend .out{color:#d62728}
.legend .worse{border-color:#d62728}.legend .better{border-color:#2ca02c}
#tip{position:absolute;pointer-events:none;background:#222;color:#fff;font-size:.8rem;padding:.3rem .5rem;border-radius:4px;white-space:pre;z-index:10}
"#;

const SCRIPT: &str = r##"
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
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Direction;

    fn series(id: &str, unit: Unit, values: &[f64]) -> Series {
        Series {
            id: id.into(),
            machine: "m".into(),
            unit: Some(unit),
            direction: Direction::LowerIsBetter,
            points: values
                .iter()
                .enumerate()
                .map(|(i, &v)| (format!("c{i}"), "2026-12-02T00:00:00Z".into(), v))
                .collect(),
        }
    }

    #[test]
    fn instruction_counts_stand_beside_the_wall_time_they_measure() {
        let s = [
            series("graph_planning/plan/1000", Unit::Nanoseconds, &[1.0]),
            series(
                "rate_limiters/token_bucket/try_acquire",
                Unit::Nanoseconds,
                &[1.0],
            ),
            series("rate_limiters/a/x", Unit::Nanoseconds, &[1.0]),
            series("other/a/x", Unit::Nanoseconds, &[1.0]),
            series("instructions/plan/1000", Unit::Count, &[1.0]),
            series(
                "instructions/token_bucket/try_acquire_x1000",
                Unit::Count,
                &[1.0],
            ),
            series("instructions/a/x", Unit::Count, &[1.0]),
            series("instructions/mmc/solve", Unit::Count, &[1.0]),
            series("instructions/graph_planning/plan/1000", Unit::Count, &[1.0]),
        ];
        let p = partners(&s);
        assert_eq!(p.get(&4), Some(&0));
        assert_eq!(p.get(&5), Some(&1));
        assert_eq!(
            p.get(&6),
            None,
            "two wall-time series end in a/x: none is chosen"
        );
        assert_eq!(p.get(&7), None);
        assert_eq!(
            p.get(&8),
            Some(&0),
            "a `bench-gate count` series: the whole id"
        );
    }

    #[test]
    fn the_page_has_one_chart_per_series_and_escapes_what_it_shows() {
        let values: Vec<f64> = (0..30).map(|i| 100.0 + (i % 3) as f64).collect();
        let s = vec![
            series("fam/<b>&x", Unit::Nanoseconds, &values),
            series("fam/short", Unit::Nanoseconds, &values[..4]),
        ];
        let runs: Vec<Run> = (0..30)
            .map(|i| Run {
                commit: format!("c{i}"),
                date: "2026-12-02T00:00:00Z".into(),
                machine: "m".into(),
                values: BTreeMap::new(),
                units: BTreeMap::new(),
                directions: BTreeMap::new(),
            })
            .collect();
        let checked = Checked {
            found: vec![],
            too_short: vec![("fam/short".into(), "m".into(), 4)],
            judged: 1,
        };
        let verdicts = Verdicts {
            comparisons: vec![VerdictRow {
                id: "fam/<b>&x".into(),
                verdict: "critical".into(),
                change: Some(0.1),
                mde: Some(0.05),
                reason: "slower </script>".into(),
                ..VerdictRow::default()
            }],
            ..Verdicts::default()
        };
        let html = render(&Page {
            source: "h.jsonl",
            runs: &runs,
            series: &s,
            checked: &checked,
            failing: &[],
            warnings: &["w <1>".into()],
            verdict: Some(("ab.json", &verdicts)),
        })
        .unwrap();
        assert_eq!(html.matches("<figure class=\"chart\"").count(), 2);
        assert!(!html.contains("<b>&x"), "ids are escaped");
        assert!(html.contains("fam/&lt;b&gt;&amp;x"));
        assert!(html.contains("MDE 5.00 %") && html.contains("5.00 %</td>"));
        assert!(html.contains("too short to judge (4 runs)"));
        assert_eq!(
            html.matches("</script>").count(),
            2,
            "nothing closes a script early"
        );
        assert!(
            !html.contains("http://")
                || html.matches("http://").count()
                    == html.matches("http://www.w3.org/2000/svg").count(),
            "no link leaves the page"
        );
    }
}
