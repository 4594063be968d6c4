//! The gate's reports, all from one [`Decision`]: a terminal table (colour on a tty),
//! markdown (for `$GITHUB_STEP_SUMMARY` and PR comments), JSON and JUnit XML (one
//! testcase per benchmark; critical ones fail).

use std::fmt::Write as _;

use crate::verdict::{Comparison, Decision, Verdict};

fn change(c: &Comparison) -> String {
    c.change
        .map_or("—".into(), |x| format!("{:+.2} %", x * 100.0))
}

fn value(c: &Comparison, v: Option<f64>) -> String {
    v.map_or("—".into(), |v| c.unit.format(v))
}

fn ci(c: &Comparison) -> String {
    c.ci.map_or("—".into(), |[lo, hi]| {
        format!("[{}, {}]", c.unit.format(lo), c.unit.format(hi))
    })
}

fn p(c: &Comparison) -> String {
    c.p_value.map_or("—".into(), |p| format!("{p:.1e}"))
}

fn percent(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{:.2} %", x * 100.0))
}

/// The paired interval of the change, `[-0.40 %, +0.62 %]`.
fn change_ci(c: &Comparison) -> String {
    c.paired.as_ref().map_or("—".into(), |p| {
        format!(
            "[{:+.2} %, {:+.2} %]",
            p.change_ci[0] * 100.0,
            p.change_ci[1] * 100.0
        )
    })
}

fn rounds(c: &Comparison) -> String {
    c.paired
        .as_ref()
        .map_or("—".into(), |p| p.rounds.to_string())
}

/// Whether the decision is a paired one (`bench-gate ab`).
fn is_paired(d: &Decision) -> bool {
    d.comparisons.iter().any(|c| c.paired.is_some())
}

/// What the paired run could see: the median and largest minimum detectable effect,
/// and how many benchmarks ran at two speeds.
pub fn detectable(d: &Decision) -> Option<String> {
    let mut mdes: Vec<f64> = d.comparisons.iter().filter_map(|c| c.mde).collect();
    if mdes.is_empty() {
        return None;
    }
    mdes.sort_by(f64::total_cmp);
    let two = d
        .comparisons
        .iter()
        .filter(|c| c.paired.as_ref().is_some_and(|p| p.bimodal.is_some()))
        .count();
    let mut line = format!(
        "minimum detectable effect (80 % power): median {:.2} %, largest {:.2} % ({} benchmarks)",
        crate::model::median(&mdes) * 100.0,
        mdes[mdes.len() - 1] * 100.0,
        mdes.len()
    );
    if two > 0 {
        line += &format!("; {two} ran at two speeds");
    }
    Some(line)
}

/// One line per verdict kind with its count: `2 critical, 1 warning, 40 unchanged`.
pub fn summary(d: &Decision) -> String {
    let kinds = [
        Verdict::Critical,
        Verdict::Warning,
        Verdict::Accepted,
        Verdict::Incomparable,
        Verdict::Missing,
        Verdict::New,
        Verdict::Inconclusive,
        Verdict::Improved,
        Verdict::Unchanged,
    ];
    let parts: Vec<String> = kinds
        .iter()
        .filter(|&&k| d.count(k) > 0)
        .map(|&k| format!("{} {}", d.count(k), k.name()))
        .collect();
    format!("{} benchmarks: {}", d.comparisons.len(), parts.join(", "))
}

/// The terminal table, worst first, with which moved (work or time) under each judged
/// benchmark whose instructions were counted; `colour` adds ANSI colours to the verdicts.
pub fn terminal(d: &Decision, colour: bool) -> String {
    let paired = is_paired(d);
    let header = if paired {
        [
            "verdict",
            "benchmark",
            "base",
            "head",
            "change",
            "95 % CI",
            "MDE",
        ]
    } else {
        [
            "verdict",
            "benchmark",
            "baseline",
            "current",
            "change",
            "CI (current)",
            "p",
        ]
    };
    let rows: Vec<[String; 7]> = d
        .comparisons
        .iter()
        .map(|c| {
            [
                c.verdict.name().to_owned(),
                c.id.clone(),
                value(c, c.baseline),
                value(c, c.current),
                change(c),
                if paired { change_ci(c) } else { ci(c) },
                if paired { percent(c.mde) } else { p(c) },
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String, paint: Option<&str>| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            let text = match (i, paint) {
                (0, Some(code)) => format!("\x1b[{code}m{cell}\x1b[0m"),
                _ => cell.clone(),
            };
            // Numbers right-aligned, text left-aligned.
            if (2..=4).contains(&i) {
                let _ = write!(out, "{}{text}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{text}{}  ", " ".repeat(pad));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&header.map(str::to_owned), &mut out, None);
    for (r, c) in rows.iter().zip(&d.comparisons) {
        line(r, &mut out, colour.then_some(paint(c.verdict)));
        let judged = matches!(
            c.verdict,
            Verdict::Critical | Verdict::Warning | Verdict::Improved
        );
        if let Some(work) = c.work.as_ref().filter(|_| judged) {
            let _ = writeln!(out, "{}  └ {work}", " ".repeat(widths[0]));
        }
    }
    let _ = writeln!(out, "\n{}", summary(d));
    if let Some(line) = detectable(d) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The ANSI colour of a verdict in the terminal table.
fn paint(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Critical => "1;31",
        Verdict::Warning => "33",
        Verdict::Accepted => "34",
        Verdict::Improved => "32",
        Verdict::Inconclusive => "35",
        Verdict::Unchanged => "2",
        _ => "36",
    }
}

/// A markdown report: summary line, then the table (non-unchanged rows first; the
/// unchanged ones folded away).
pub fn markdown(d: &Decision) -> String {
    markdown_with(d, &[])
}

/// Markdown with `preamble` lines (what was compared, notes) under the title.
pub fn markdown_with(d: &Decision, preamble: &[String]) -> String {
    let mut out = String::from("### bench-gate\n\n");
    for line in preamble {
        let _ = writeln!(out, "{line}");
    }
    if !preamble.is_empty() {
        out.push('\n');
    }
    let verdict = if d.count(Verdict::Critical) > 0 {
        "❌ critical regressions"
    } else {
        "✅ no critical regression"
    };
    let _ = writeln!(out, "**{verdict}** — {}\n", summary(d));
    if let Some(line) = detectable(d) {
        let _ = writeln!(out, "{line}\n");
    }
    let paired = is_paired(d);
    let table = |rows: &[&Comparison], out: &mut String| {
        if paired {
            out.push_str(
                "| verdict | benchmark | base | head | change | 95 % CI | MDE | rounds | measured | why |\n",
            );
            out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n");
        } else {
            out.push_str("| verdict | benchmark | baseline | current | change | p | why |\n");
            out.push_str("| --- | --- | ---: | ---: | ---: | ---: | --- |\n");
        }
        for c in rows {
            let why = c.why().replace('|', "\\|");
            let (name, id, base, cur, ch) = (
                c.verdict.name(),
                &c.id,
                value(c, c.baseline),
                value(c, c.current),
                change(c),
            );
            if paired {
                let measured = c.paired.as_ref().map_or("", |p| p.measured.as_str());
                let _ = writeln!(
                    out,
                    "| {name} | `{id}` | {base} | {cur} | {ch} | {} | {} | {} | {measured} | {why} |",
                    change_ci(c),
                    percent(c.mde),
                    rounds(c)
                );
            } else {
                let _ = writeln!(
                    out,
                    "| {name} | `{id}` | {base} | {cur} | {ch} | {} | {why} |",
                    p(c)
                );
            }
        }
    };
    let notable: Vec<&Comparison> = d
        .comparisons
        .iter()
        .filter(|c| c.verdict != Verdict::Unchanged)
        .collect();
    let quiet: Vec<&Comparison> = d
        .comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Unchanged)
        .collect();
    if !notable.is_empty() {
        table(&notable, &mut out);
    }
    if !quiet.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>{} unchanged</summary>\n",
            quiet.len()
        );
        table(&quiet, &mut out);
        out.push_str("\n</details>\n");
    }
    out
}

/// The decision as JSON.
pub fn json(d: &Decision) -> String {
    json_with(d, serde_json::Map::new())
}

/// The decision as JSON, with `extra` fields (what was compared, notes) beside
/// `comparisons` and `judged`.
pub fn json_with(d: &Decision, extra: serde_json::Map<String, serde_json::Value>) -> String {
    let mut value = serde_json::to_value(d).unwrap_or_default();
    if let serde_json::Value::Object(fields) = &mut value {
        fields.extend(extra);
    }
    serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one testcase per benchmark; critical ones are failures.
pub fn junit(d: &Decision) -> String {
    let failures = d.count(Verdict::Critical);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"bench-gate\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        d.comparisons.len()
    );
    for c in &d.comparisons {
        let name = xml_escape(&c.id);
        let class = c.source.name();
        let mde = c.mde.map_or(String::new(), |m| {
            format!(" (minimum detectable effect {:.2} %)", m * 100.0)
        });
        let text = xml_escape(&format!("{}: {}{mde}", c.verdict.name(), c.why()));
        if c.verdict == Verdict::Critical {
            let _ = writeln!(
                out,
                "  <testcase classname=\"{class}\" name=\"{name}\">\n    <failure message=\"{text}\">baseline {} current {} change {}</failure>\n  </testcase>",
                xml_escape(&value(c, c.baseline)),
                xml_escape(&value(c, c.current)),
                xml_escape(&change(c))
            );
        } else {
            let _ = writeln!(
                out,
                "  <testcase classname=\"{class}\" name=\"{name}\">\n    <system-out>{text}</system-out>\n  </testcase>"
            );
        }
    }
    out.push_str("</testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Direction, Source, Unit};

    fn decision() -> Decision {
        let c = |id: &str, verdict, base: f64, cur: f64, reason: &str| Comparison {
            id: id.into(),
            source: Source::WallTime,
            unit: Unit::Nanoseconds,
            direction: Direction::LowerIsBetter,
            verdict,
            current: Some(cur),
            baseline: Some(base),
            change: Some(cur / base - 1.0),
            ci: Some([cur * 0.99, cur * 1.01]),
            p_value: Some(1e-5),
            levels: Some([0.05, 0.1]),
            rule: None,
            reason: reason.into(),
            mde: None,
            paired: None,
            work: None,
        };
        let mut slow = c(
            "a/slow",
            Verdict::Critical,
            1000.0,
            1200.0,
            "20.00 % worse, beyond the 10.00 % level",
        );
        slow.work = Some("more work (instructions +19.50 %)".into());
        Decision {
            comparisons: vec![
                slow,
                c(
                    "b/<same>",
                    Verdict::Unchanged,
                    1000.0,
                    1001.0,
                    "within the levels",
                ),
            ],
            judged: 2,
        }
    }

    #[test]
    fn the_terminal_table_is_aligned_and_sorted() {
        let text = terminal(&decision(), false);
        let expected = "\
verdict    benchmark  baseline   current    change  CI (current)           p
critical   a/slow     1.000 µs  1.200 µs  +20.00 %  [1.188 µs, 1.212 µs]   1.0e-5
           └ more work (instructions +19.50 %)
unchanged  b/<same>   1.000 µs  1.001 µs   +0.10 %  [990.99 ns, 1.011 µs]  1.0e-5

2 benchmarks: 1 critical, 1 unchanged
";
        assert_eq!(text, expected);
        assert!(terminal(&decision(), true).contains("\x1b[1;31mcritical\x1b[0m"));
    }

    #[test]
    fn markdown_and_junit_carry_every_benchmark() {
        let md = markdown(&decision());
        assert!(md.starts_with(
            "### bench-gate\n\n**❌ critical regressions** — 2 benchmarks: 1 critical, 1 unchanged"
        ));
        assert!(md.contains(
            "| critical | `a/slow` | 1.000 µs | 1.200 µs | +20.00 % | 1.0e-5 | 20.00 % worse"
        ));
        assert!(md.contains("<details><summary>1 unchanged</summary>"));
        let xml = junit(&decision());
        assert!(xml.contains("<testsuite name=\"bench-gate\" tests=\"2\" failures=\"1\""));
        assert!(xml.contains("name=\"b/&lt;same&gt;\""), "escaped: {xml}");
        let json: serde_json::Value = serde_json::from_str(&json(&decision())).unwrap();
        assert_eq!(json["comparisons"][0]["verdict"], "critical");
    }
}
