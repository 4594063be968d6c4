//! `thresholds.toml`: the gate's policy.
//!
//! ```toml
//! [defaults]                 # every benchmark no rule matches
//! warning  = "5%"            # relative change in the metric's bad direction
//! critical = "8%"
//! alpha    = 0.01            # suite-wide false-alarm rate for wall time (Holm)
//! noise_margin = 1.5         # critical is never tighter than 1.5 × the noise band
//!
//! [defaults.instructions]    # per-source defaults: instructions, wall_time, perf
//! warning  = "0.5%"
//! critical = "3%"
//!
//! [accept]                   # who may accept a regression in a PR's description
//! by    = ["alice"]          # authors whose own `bench-gate: accept …` lines count
//! label = "perf-accepted"    # a label that makes anyone's lines count
//!
//! [[rule]]                   # the first rule whose glob matches the id sets its levels
//! match    = "graph_planning/plan/1000"
//! critical = ["8%", "1s"]    # a list: any bound crossed gives the level
//! ```
//!
//! A level is a relative change (`"5%"`) or an absolute bound with a unit (`"1s"`,
//! `"250ms"`, `"16MB"`, `"1GiB"`) or without one for ratios and counts (`"0.80"`): a
//! lower-is-better metric crosses it by exceeding it, a higher-is-better one by
//! falling below it. A rule may set one level and leave the other to the defaults;
//! `source = "perf"` restricts it to one source. Unknown keys and malformed values are
//! errors naming the key (and line).

use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use crate::GateError;
use crate::accept::AcceptPolicy;
use crate::model::{Direction, Entry, Source, Unit};

/// One bound of a level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// A relative change in the bad direction (0.05 = 5 %).
    Relative(f64),
    /// An absolute bound on the normalised value; `unit` None = dimensionless.
    Absolute {
        /// The bound, normalised (ns, bytes, or as written).
        value: f64,
        /// Its dimension (None for a bare number).
        unit: Option<Unit>,
    },
}

impl Bound {
    /// Parses `"5%"`, `"1s"`, `"16MB"`, `"0.80"`.
    pub fn parse(text: &str) -> Result<Bound, String> {
        let t = text.trim();
        if let Some(pct) = t.strip_suffix('%') {
            let v: f64 = pct
                .trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a percentage"))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{text:?}: a relative level must be ≥ 0 %"));
            }
            return Ok(Bound::Relative(v / 100.0));
        }
        let split = t.find(|c: char| {
            !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')
        });
        let (num, unit) = match split {
            Some(i) => (&t[..i], t[i..].trim()),
            None => (t, ""),
        };
        let v: f64 = num
            .parse()
            .map_err(|_| format!("{text:?} is not a number with an optional unit"))?;
        if !v.is_finite() {
            return Err(format!("{text:?} is not finite"));
        }
        if unit.is_empty() {
            return Ok(Bound::Absolute {
                value: v,
                unit: None,
            });
        }
        match Unit::parse(unit) {
            Some((u, factor)) => Ok(Bound::Absolute {
                value: v * factor,
                unit: Some(u),
            }),
            None => Err(format!(
                "{text:?}: unknown unit {unit:?} (use %, ns, us, ms, s, B, KB, KiB, MB, MiB, GB, GiB or none)"
            )),
        }
    }

    /// Whether `current` (against `baseline`, when there is one) crosses this bound.
    /// `Err` when an absolute bound's unit does not fit the metric.
    pub fn crossed(&self, entry: &Entry, baseline: Option<f64>) -> Result<bool, String> {
        let bad = |a: f64, b: f64| match entry.direction {
            Direction::LowerIsBetter => a > b,
            Direction::HigherIsBetter => a < b,
        };
        match *self {
            Bound::Relative(r) => Ok(match baseline {
                Some(base) => bad(
                    entry.value,
                    match entry.direction {
                        Direction::LowerIsBetter => base * (1.0 + r),
                        Direction::HigherIsBetter => base * (1.0 - r),
                    },
                ),
                None => false,
            }),
            Bound::Absolute { value, unit } => {
                let fits = match unit {
                    None => matches!(entry.unit, Unit::Number | Unit::Count),
                    Some(u) => u == entry.unit,
                };
                if !fits {
                    return Err(format!(
                        "an absolute bound in {} does not apply to a metric in {:?}",
                        unit.map_or("a bare number".to_owned(), |u| format!("{u:?}")),
                        entry.unit
                    ));
                }
                Ok(bad(entry.value, value))
            }
        }
    }
}

/// The warning and critical bounds that apply to one benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct Levels {
    /// Any bound crossed gives at least a warning.
    pub warning: Vec<Bound>,
    /// Any bound crossed gives a critical verdict.
    pub critical: Vec<Bound>,
}

impl Levels {
    /// The relative warning level (the smallest, if several), if any.
    pub fn relative_warning(&self) -> Option<f64> {
        relative(&self.warning)
    }

    /// The relative critical level (the smallest, if several), if any.
    pub fn relative_critical(&self) -> Option<f64> {
        relative(&self.critical)
    }
}

fn relative(bounds: &[Bound]) -> Option<f64> {
    bounds
        .iter()
        .filter_map(|b| match b {
            Bound::Relative(r) => Some(*r),
            _ => None,
        })
        .reduce(f64::min)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLevels {
    warning: Option<OneOrMany>,
    critical: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    warning: Option<OneOrMany>,
    critical: Option<OneOrMany>,
    alpha: Option<f64>,
    noise_margin: Option<f64>,
    instructions: Option<RawLevels>,
    wall_time: Option<RawLevels>,
    perf: Option<RawLevels>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    pattern: String,
    source: Option<Source>,
    warning: Option<OneOrMany>,
    critical: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaired {
    warning: Option<String>,
    critical: Option<String>,
    alpha: Option<f64>,
    fdr: Option<f64>,
    identical_work: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    defaults: RawDefaults,
    paired: Option<RawPaired>,
    #[serde(default)]
    accept: AcceptPolicy,
    #[serde(default)]
    rule: Vec<RawRule>,
}

/// The levels of the paired verdicts (`bench-gate ab`, `[paired]` in thresholds.toml):
/// relative changes, since both sides are measured together.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedLevels {
    /// A significant change beyond this is a warning (or an improvement), default
    /// 0.25 %.
    pub warning: f64,
    /// A regression whose whole simultaneous interval lies beyond this is critical,
    /// default 0.5 %.
    pub critical: f64,
    /// The suite-wide chance of any false critical verdict (Holm), default 0.05.
    pub alpha: f64,
    /// The expected share of false warnings and improvements (Benjamini–Hochberg),
    /// default 0.05.
    pub fdr: f64,
    /// Whether a critical slowdown of a benchmark whose instructions and memory
    /// accesses Callgrind counted identical on both sides still fails (`identical_work
    /// = "critical"`), or is a warning (`"warning"`, the default): the same instruction
    /// stream ran, so the time moved with the build's code layout or the machine.
    pub identical_work_fails: bool,
}

impl Default for PairedLevels {
    fn default() -> Self {
        PairedLevels {
            warning: 0.0025,
            critical: 0.005,
            alpha: 0.05,
            fdr: 0.05,
            identical_work_fails: false,
        }
    }
}

/// A rule: a glob on benchmark ids, optionally one source, and the levels it sets.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The glob as written.
    pub pattern: String,
    matcher: GlobMatcher,
    /// Only benchmarks from this source, if set.
    pub source: Option<Source>,
    /// The warning bounds it sets (None: the defaults').
    pub warning: Option<Vec<Bound>>,
    /// The critical bounds it sets (None: the defaults').
    pub critical: Option<Vec<Bound>>,
}

/// The parsed policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    defaults: Levels,
    per_source: Vec<(Source, Levels)>,
    /// The suite-wide false-alarm rate for wall-time regressions (Holm), default 0.01.
    pub alpha: f64,
    /// The critical level is never tighter than this multiple of a benchmark's
    /// calibrated noise band (the warning level never tighter than the band), default 1.5.
    pub noise_margin: f64,
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// The paired verdicts' levels.
    pub paired: PairedLevels,
    /// Who may accept a regression from the PR's description (`[accept]`).
    pub accept: AcceptPolicy,
    /// The text it was parsed from (a shard's report carries it to `merge`).
    pub text: String,
}

/// `[paired]`'s values over the defaults; a bad one names its key.
fn parse_paired(p: RawPaired) -> Result<PairedLevels, String> {
    let mut levels = PairedLevels::default();
    for (key, text, slot) in [
        ("paired.warning", p.warning, &mut levels.warning),
        ("paired.critical", p.critical, &mut levels.critical),
    ] {
        if let Some(text) = text {
            *slot = match Bound::parse(&text) {
                Ok(Bound::Relative(r)) if r > 0.0 => r,
                Ok(_) => {
                    return Err(format!(
                        "{key}: {text:?} must be a relative change above 0, e.g. \"1%\""
                    ));
                }
                Err(e) => return Err(format!("{key}: {e}")),
            };
        }
    }
    for (key, value, slot) in [
        ("paired.alpha", p.alpha, &mut levels.alpha),
        ("paired.fdr", p.fdr, &mut levels.fdr),
    ] {
        if let Some(v) = value {
            if !(v > 0.0 && v < 1.0) {
                return Err(format!("{key}: {v} is not a probability in (0, 1)"));
            }
            *slot = v;
        }
    }
    levels.identical_work_fails = match p.identical_work.as_deref() {
        None | Some("warning") => false,
        Some("critical") => true,
        Some(other) => {
            return Err(format!(
                "paired.identical_work: {other:?} is neither \"warning\" nor \"critical\""
            ));
        }
    };
    if levels.warning > levels.critical {
        return Err(format!(
            "paired.warning ({} %) is above paired.critical ({} %)",
            levels.warning * 100.0,
            levels.critical * 100.0
        ));
    }
    Ok(levels)
}

/// The defaults used when no thresholds file is given: 5 %/8 % wall time, 0.5 %/3 %
/// instructions, 10 %/20 % perf metrics, α = 0.01, noise margin 1.5.
pub const DEFAULT_POLICY: &str = r#"
[defaults]
warning = "5%"
critical = "8%"
alpha = 0.01
noise_margin = 1.5
[defaults.instructions]
warning = "0.5%"
critical = "3%"
[defaults.perf]
warning = "10%"
critical = "20%"
"#;

impl Policy {
    /// Reads and validates a thresholds file.
    pub fn load(path: &Path) -> Result<Policy, GateError> {
        let text = std::fs::read_to_string(path).map_err(|e| GateError::io(path, e))?;
        Policy::parse(&text, path)
    }

    /// Parses thresholds text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, GateError> {
        let err = |detail: String| GateError::Thresholds {
            path: path.to_owned(),
            detail,
        };
        let raw: RawPolicy =
            toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_owned()))?;
        let bounds = |key: String, v: Option<OneOrMany>| -> Result<Option<Vec<Bound>>, GateError> {
            let Some(v) = v else { return Ok(None) };
            let texts = match v {
                OneOrMany::One(s) => vec![s],
                OneOrMany::Many(v) => v,
            };
            if texts.is_empty() {
                return Err(err(format!("{key}: an empty list sets no bound")));
            }
            texts
                .iter()
                .map(|t| Bound::parse(t).map_err(|e| err(format!("{key}: {e}"))))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        };
        let d = raw.defaults;
        let defaults = Levels {
            warning: bounds("defaults.warning".into(), d.warning)?
                .unwrap_or_else(|| vec![Bound::Relative(0.05)]),
            critical: bounds("defaults.critical".into(), d.critical)?
                .unwrap_or_else(|| vec![Bound::Relative(0.08)]),
        };
        let alpha = d.alpha.unwrap_or(0.01);
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(err(format!(
                "defaults.alpha: {alpha} is not a probability in (0, 1)"
            )));
        }
        let noise_margin = d.noise_margin.unwrap_or(1.5);
        if !(noise_margin.is_finite() && noise_margin >= 1.0) {
            return Err(err(format!(
                "defaults.noise_margin: {noise_margin} must be a finite number >= 1 \
                 (a critical level tighter than the measured noise would fire on noise)"
            )));
        }
        let mut per_source = Vec::new();
        for (source, raw_levels) in [
            (Source::Instructions, d.instructions),
            (Source::WallTime, d.wall_time),
            (Source::Perf, d.perf),
        ] {
            if let Some(l) = raw_levels {
                let name = source.name();
                per_source.push((
                    source,
                    Levels {
                        warning: bounds(format!("defaults.{name}.warning"), l.warning)?
                            .unwrap_or_else(|| defaults.warning.clone()),
                        critical: bounds(format!("defaults.{name}.critical"), l.critical)?
                            .unwrap_or_else(|| defaults.critical.clone()),
                    },
                ));
            }
        }
        let mut rules = Vec::new();
        for (i, r) in raw.rule.into_iter().enumerate() {
            let matcher = Glob::new(&r.pattern)
                .map_err(|e| {
                    err(format!(
                        "rule[{i}].match: {:?} is not a valid glob: {e}",
                        r.pattern
                    ))
                })?
                .compile_matcher();
            let warning = bounds(format!("rule[{i}] ({}).warning", r.pattern), r.warning)?;
            let critical = bounds(format!("rule[{i}] ({}).critical", r.pattern), r.critical)?;
            if warning.is_none() && critical.is_none() {
                return Err(err(format!(
                    "rule[{i}] ({}): sets neither warning nor critical",
                    r.pattern
                )));
            }
            rules.push(Rule {
                pattern: r.pattern,
                matcher,
                source: r.source,
                warning,
                critical,
            });
        }
        let paired = match raw.paired {
            None => PairedLevels::default(),
            Some(p) => parse_paired(p).map_err(err)?,
        };
        Ok(Policy {
            path: path.to_owned(),
            defaults,
            per_source,
            alpha,
            noise_margin,
            rules,
            paired,
            accept: raw.accept,
            text: text.to_owned(),
        })
    }

    /// The built-in policy ([`DEFAULT_POLICY`]).
    pub fn builtin() -> Policy {
        Policy::parse(DEFAULT_POLICY, Path::new("<built-in thresholds>"))
            .expect("the built-in policy parses")
    }

    /// The levels for `entry`: the first matching rule's, the rest from its source's
    /// defaults. Also returns the rule's pattern, if one matched.
    pub fn levels_for(&self, id: &str, source: Source) -> (Levels, Option<&str>) {
        let base = self
            .per_source
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(&self.defaults, |(_, l)| l)
            .clone();
        for rule in &self.rules {
            if rule.source.is_some_and(|s| s != source) || !rule.matcher.is_match(id) {
                continue;
            }
            let levels = Levels {
                warning: rule.warning.clone().unwrap_or(base.warning.clone()),
                critical: rule.critical.clone().unwrap_or(base.critical.clone()),
            };
            return (levels, Some(&rule.pattern));
        }
        (base, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, String> {
        Policy::parse(text, Path::new("t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn bounds_parse_with_units() {
        assert_eq!(Bound::parse("5%"), Ok(Bound::Relative(0.05)));
        assert_eq!(
            Bound::parse("1s"),
            Ok(Bound::Absolute {
                value: 1e9,
                unit: Some(Unit::Nanoseconds)
            })
        );
        assert_eq!(
            Bound::parse("250ms"),
            Ok(Bound::Absolute {
                value: 2.5e8,
                unit: Some(Unit::Nanoseconds)
            })
        );
        assert_eq!(
            Bound::parse("1GiB"),
            Ok(Bound::Absolute {
                value: 1073741824.0,
                unit: Some(Unit::Bytes)
            })
        );
        assert_eq!(
            Bound::parse("0.80"),
            Ok(Bound::Absolute {
                value: 0.8,
                unit: None
            })
        );
        assert!(Bound::parse("fast").unwrap_err().contains("not a number"));
        assert!(
            Bound::parse("3 parsecs")
                .unwrap_err()
                .contains("unknown unit \"parsecs\"")
        );
        assert!(Bound::parse("-5%").is_err());
    }

    #[test]
    fn a_defaults_only_file_is_valid_and_rules_match_in_order() {
        let p = parse("[defaults]\nwarning = \"5%\"\ncritical = \"10%\"\n").unwrap();
        assert_eq!(
            p.levels_for("x", Source::WallTime).0.relative_critical(),
            Some(0.10)
        );
        let p = parse(
            "[defaults]\nwarning = \"5%\"\ncritical = \"10%\"\n[defaults.instructions]\nwarning = \"1%\"\ncritical = \"3%\"\n\
             [[rule]]\nmatch = \"graph_planning/plan/1000\"\ncritical = [\"10%\", \"1s\"]\n\
             [[rule]]\nmatch = \"graph_planning/*\"\nwarning = \"8%\"\n",
        )
        .unwrap();
        let (l, rule) = p.levels_for("graph_planning/plan/1000", Source::WallTime);
        assert_eq!(rule, Some("graph_planning/plan/1000"));
        assert_eq!(l.warning, vec![Bound::Relative(0.05)]);
        assert_eq!(l.critical.len(), 2);
        let (l, rule) = p.levels_for("graph_planning/levels/10", Source::WallTime);
        assert_eq!(
            (rule, l.relative_warning(), l.relative_critical()),
            (Some("graph_planning/*"), Some(0.08), Some(0.10))
        );
        let (l, rule) = p.levels_for("instructions/plan/1000", Source::Instructions);
        assert_eq!(
            (rule, l.relative_warning(), l.relative_critical()),
            (None, Some(0.01), Some(0.03))
        );
    }

    #[test]
    fn errors_name_the_key_and_value() {
        let e = parse("[defaults]\nwarning = \"5%\"\ncritcal = \"10%\"\n").unwrap_err();
        assert!(e.contains("t.toml") && e.contains("critcal"), "{e}");
        let e = parse("[defaults]\nwarning = \"five\"\n").unwrap_err();
        assert!(
            e.contains("defaults.warning") && e.contains("\"five\""),
            "{e}"
        );
        let e = parse("[defaults]\n[[rule]]\nmatch = \"a/[\"\ncritical = \"1%\"\n").unwrap_err();
        assert!(e.contains("rule[0].match"), "{e}");
        let e = parse("[defaults]\n[[rule]]\nmatch = \"a\"\n").unwrap_err();
        assert!(e.contains("sets neither"), "{e}");
        let e = parse("[defaults]\nalpha = 2.0\n").unwrap_err();
        assert!(e.contains("defaults.alpha"), "{e}");
        let e = parse("[defaults]\nnoise_margin = 0.5\n").unwrap_err();
        assert!(e.contains("defaults.noise_margin: 0.5"), "{e}");
        let e = parse("[defaults]\n[[rule]]\nmatch = \"a\"\nsource = \"gpu\"\ncritical = \"1%\"\n")
            .unwrap_err();
        assert!(e.contains("gpu"), "{e}");
        let e = parse("[defaults\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse("").unwrap_err().contains("defaults"));
    }

    #[test]
    fn absolute_bounds_check_units_and_direction() {
        let mut e = Entry {
            id: "x".into(),
            source: Source::Perf,
            unit: Unit::Number,
            direction: Direction::HigherIsBetter,
            value: 0.75,
            ci: None,
            samples: vec![],
            noise: None,
            extra: Default::default(),
        };
        assert_eq!(Bound::parse("0.80").unwrap().crossed(&e, None), Ok(true));
        assert_eq!(Bound::parse("0.70").unwrap().crossed(&e, None), Ok(false));
        assert!(Bound::parse("1s").unwrap().crossed(&e, None).is_err());
        e.unit = Unit::Nanoseconds;
        e.direction = Direction::LowerIsBetter;
        e.value = 2e9;
        assert_eq!(Bound::parse("1s").unwrap().crossed(&e, None), Ok(true));
        assert_eq!(
            Bound::parse("10%").unwrap().crossed(&e, Some(1.9e9)),
            Ok(false)
        );
        assert_eq!(
            Bound::parse("10%").unwrap().crossed(&e, Some(1.5e9)),
            Ok(true)
        );
        assert_eq!(Bound::parse("10%").unwrap().crossed(&e, None), Ok(false));
    }
}
