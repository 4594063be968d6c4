//! The history report (`history check --html`): one self-contained HTML file (inline
//! CSS, SVG and script; no network), grouped by machine and bench family, with a trend
//! chart per benchmark ([`chart::trend`]: points, rolling median, change points; the
//! commit and value on hover), each instruction-count series beside the wall-time
//! series it measures, the change points found, and the latest `ab` or `check` verdict
//! with each benchmark's minimum detectable effect. The markup is written here; the
//! style sheet and the hover script are `html/history.css` and `html/history.js`, and
//! the script's data is serialized from `ScriptData`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

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
    /// Which moved, work or time (`ab` with counts); reports made before it had its
    /// own field carry it in `reason` already.
    #[serde(default)]
    pub work: Option<String>,
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
            reason = escape(&match &r.work {
                Some(work) if !r.reason.contains(work.as_str()) => format!("{}; {work}", r.reason),
                _ => r.reason.clone(),
            }),
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

/// What the page's script reads from `#report-data`: every run's commit and date, and
/// per series what its hover shows.
#[derive(Serialize)]
struct ScriptData<'a> {
    /// Per run: commit, date.
    runs: Vec<[&'a str; 2]>,
    /// Per series, in figure order.
    series: Vec<SeriesData<'a>>,
}

/// One series as the hover needs it.
#[derive(Serialize)]
struct SeriesData<'a> {
    /// The benchmark.
    id: &'a str,
    /// What a value is divided by for display.
    div: f64,
    /// The display unit.
    suf: &'a str,
    /// The chart's pixel mapping: x0, dx, y0, dy, lo, hi.
    map: [f64; 6],
    /// Each point's run, an index into `runs`.
    r: Vec<usize>,
    /// Each point's value, to seven significant digits.
    v: Vec<f64>,
}

/// The page's lookups, built once: change points, too-short series and the latest
/// verdict per benchmark, each run's index, and each count series' wall-time partner.
struct Lookups<'a> {
    found: HashMap<(&'a str, &'a str), Vec<&'a Found>>,
    too_short: HashMap<(&'a str, &'a str), usize>,
    verdicts: HashMap<&'a str, &'a VerdictRow>,
    run_index: HashMap<(&'a str, &'a str), usize>,
    partner: HashMap<usize, usize>,
}

impl<'a> Lookups<'a> {
    fn of(page: &Page<'a>) -> Lookups<'a> {
        let mut found: HashMap<(&str, &str), Vec<&Found>> = HashMap::new();
        for f in &page.checked.found {
            found.entry((&f.machine, &f.id)).or_default().push(f);
        }
        let too_short = page.checked.too_short.iter();
        let verdicts = page.verdict.map(|(_, v)| v.comparisons.iter());
        Lookups {
            found,
            too_short: too_short
                .map(|(id, m, runs)| ((m.as_str(), id.as_str()), *runs))
                .collect(),
            verdicts: verdicts
                .into_iter()
                .flatten()
                .map(|r| (r.id.as_str(), r))
                .collect(),
            run_index: (page.runs.iter().enumerate())
                .map(|(i, r)| ((r.machine.as_str(), r.commit.as_str()), i))
                .collect(),
            partner: partners(page.series),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Series `i` drawn: its figure, and what the script needs for its hover.
fn draw<'a>(
    page: &Page<'a>,
    look: &Lookups<'a>,
    i: usize,
) -> Result<(String, SeriesData<'a>), String> {
    let s = &page.series[i];
    let values = s.values();
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let scale = Scale::of(s.unit, sorted[sorted.len() / 2]);
    let shown: Vec<f64> = values.iter().map(|v| v / scale.divisor).collect();
    let key = (s.machine.as_str(), s.id.as_str());
    let found = look.found.get(&key).cloned().unwrap_or_default();
    let marks: Vec<Mark> = (found.iter())
        .map(|f| Mark {
            index: f.index,
            change: f.change,
            regression: f.direction == Movement::Regression,
        })
        .collect();
    let counted = if look.partner.contains_key(&i) {
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
    let m = drawn.mapping;
    let data = SeriesData {
        id: &s.id,
        div: scale.divisor,
        suf: scale.suffix,
        map: [m.x0, m.dx, m.y0, m.dy, m.lo, m.hi],
        r: (s.points.iter())
            .map(|(commit, _, _)| look.run_index.get(&(key.0, commit.as_str())).copied())
            .map(Option::unwrap_or_default)
            .collect(),
        v: (values.iter())
            .map(|v| chart::significant(*v, 7).parse().unwrap_or(*v))
            .collect(),
    };
    let mut figure = caption(page, look, i, &scale, &values, &found);
    figure.push_str(&drawn.svg);
    figure.push_str("</figure>");
    Ok((figure, data))
}

/// The opening of series `i`'s figure and its caption: the id, the latest value, and
/// badges for its change points, a series too short to judge, and the latest verdict.
fn caption(
    page: &Page,
    look: &Lookups,
    i: usize,
    scale: &Scale,
    values: &[f64],
    found: &[&Found],
) -> String {
    let s = &page.series[i];
    let kind = if look.partner.contains_key(&i) {
        "chart instructions"
    } else {
        "chart"
    };
    let repeated = page.series.iter().filter(|t| t.id == s.id).count() > 1;
    let suffix = if repeated {
        format!("-{i}")
    } else {
        String::new()
    };
    let latest = values.last().copied().unwrap_or(0.0);
    let mut out = format!(
        "<figure class=\"{kind}\" id=\"{anchor}\" data-series=\"{i}\"><figcaption><code>{id}</code> \
         <span class=\"latest\">latest {latest}, {runs} runs</span>",
        anchor = escape(&format!("{}{suffix}", anchor_of(&s.id))),
        id = escape(&s.id),
        latest = escape(&scale.show(latest)),
        runs = values.len(),
    );
    for f in found {
        let kind = match f.direction {
            Movement::Regression => "regression",
            Movement::Improvement => "improvement",
        };
        let (change, commit) = (percent(Some(f.change)), escape(short(&f.commit)));
        let _ = write!(
            out,
            " <span class=\"badge {kind}\">{kind} {change} at <code>{commit}</code></span>"
        );
    }
    if let Some(runs) = look.too_short.get(&(s.machine.as_str(), s.id.as_str())) {
        let _ = write!(
            out,
            " <span class=\"badge short\">too short to judge ({runs} runs)</span>"
        );
    }
    if let Some(v) = look.verdicts.get(s.id.as_str()) {
        let mde = v
            .mde
            .map_or_else(String::new, |m| format!(", MDE {:.2} %", 100.0 * m));
        let _ = write!(
            out,
            " <span class=\"badge v-{verdict}\">latest verdict: {verdict} {change}{mde}</span>",
            verdict = escape(&v.verdict),
            change = percent(v.change),
        );
    }
    out.push_str("</figcaption>");
    out
}

/// The page's header: what the history holds and found, the legend, reading warnings.
fn header(out: &mut String, page: &Page, machines: usize) {
    let first = page.runs.first().map_or("", |r| r.date.as_str());
    let last = page.runs.last().map_or("", |r| r.date.as_str());
    let (found, failing) = (page.checked.found.len(), page.failing.len());
    let _ = write!(
        out,
        "<header><h1>Benchmark history</h1><p><code>{}</code>: {} runs from {} to {}, {} series on {machines} machine{}; \
         {found} change point{}, {failing} regression{} failing the check; {} too short to judge.</p>",
        escape(page.source),
        page.runs.len(),
        escape(first),
        escape(last),
        page.series.len(),
        plural(machines),
        plural(found),
        plural(failing),
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
        let n = page.warnings.len();
        let _ = write!(
            out,
            "<details><summary>{n} warnings reading the history</summary><ul>"
        );
        for w in page.warnings {
            let _ = write!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul></details>");
    }
    out.push_str("</header>");
}

/// One machine's section: a link per bench family, then each family's figures, an
/// instruction count beside the wall time it measures.
fn machine_section(
    out: &mut String,
    page: &Page,
    look: &Lookups,
    machine: &str,
    figures: &[String],
) {
    let beside: HashMap<usize, usize> = look.partner.iter().map(|(&i, &w)| (w, i)).collect();
    let m = escape(&anchor_of(machine));
    let _ = write!(
        out,
        "<section class=\"machine\"><h2>Machine <code>{}</code></h2><nav>",
        escape(machine)
    );
    let mut families: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in page.series.iter().enumerate() {
        if s.machine == machine && !look.partner.contains_key(&i) {
            families.entry(family(&s.id)).or_default().push(i);
        }
    }
    for (f, members) in &families {
        let (a, name, n) = (escape(&anchor_of(f)), escape(f), members.len());
        let _ = write!(out, "<a href=\"#f-{m}-{a}\">{name} ({n})</a> ");
    }
    out.push_str("</nav>");
    for (f, members) in &families {
        let (a, name) = (escape(&anchor_of(f)), escape(f));
        let _ = write!(
            out,
            "<section class=\"family\" id=\"f-{m}-{a}\"><h3>{name}</h3><div class=\"grid\">"
        );
        for &i in members {
            match beside.get(&i) {
                Some(&j) => {
                    let _ = write!(
                        out,
                        "<div class=\"pair\">{}{}</div>",
                        figures[i], figures[j]
                    );
                }
                None => out.push_str(&figures[i]),
            }
        }
        out.push_str("</div></section>");
    }
    out.push_str("</section>");
}

/// JSON for a `<script>` element: `<`, `>` and `&` as `\u` escapes (they only occur
/// inside strings), so no id can close the script or open a tag.
fn script_json(data: &impl Serialize) -> Result<String, String> {
    let json =
        serde_json::to_string(data).map_err(|e| format!("cannot encode the page's data: {e}"))?;
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

/// Renders the page.
pub fn render(page: &Page) -> Result<String, String> {
    let look = Lookups::of(page);
    let mut figures = Vec::with_capacity(page.series.len());
    let mut data = ScriptData {
        runs: (page.runs.iter())
            .map(|r| [r.commit.as_str(), r.date.as_str()])
            .collect(),
        series: Vec::with_capacity(page.series.len()),
    };
    for i in 0..page.series.len() {
        let (figure, series) = draw(page, &look, i)?;
        figures.push(figure);
        data.series.push(series);
    }
    let data = script_json(&data)?;
    let mut machines: Vec<&str> = page.series.iter().map(|s| s.machine.as_str()).collect();
    machines.dedup();

    let size = figures.iter().map(String::len).sum::<usize>() + data.len() + 16_384;
    let mut out = String::with_capacity(size);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = write!(
        out,
        "<title>Benchmark history</title><style>{STYLE}</style></head><body>"
    );
    header(&mut out, page, machines.len());
    out.push_str("<main>");
    if let Some((name, v)) = page.verdict {
        verdict_table(&mut out, name, v);
    }
    change_table(&mut out, &page.checked.found, page.failing);
    for machine in &machines {
        machine_section(&mut out, page, &look, machine, &figures);
    }
    let _ = writeln!(
        out,
        "</main><div id=\"tip\" hidden></div><script type=\"application/json\" id=\"report-data\">\
         {data}</script><script>{SCRIPT}</script></body></html>"
    );
    Ok(out)
}

/// The page's style sheet.
const STYLE: &str = include_str!("html/history.css");

/// The page's script: the hover over every chart, from `#report-data`.
const SCRIPT: &str = include_str!("html/history.js");

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
