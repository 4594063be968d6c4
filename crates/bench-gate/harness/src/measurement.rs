//! What a sample measures: Criterion's `Measurement` and `ValueFormatter` traits, with
//! the same signatures so that custom measurements written for Criterion plug in, and
//! `WallTime`, the default.

use std::time::{Duration, Instant};

use crate::Throughput;

/// Formats a measurement's values for people and machines.
pub trait ValueFormatter {
    /// One value with its unit.
    fn format_value(&self, value: f64) -> String {
        let mut values = [value];
        let unit = self.scale_values(value, &mut values);
        format!("{:>6} {}", short(values[0]), unit)
    }

    /// One value as a throughput.
    fn format_throughput(&self, throughput: &Throughput, value: f64) -> String {
        let mut values = [value];
        let unit = self.scale_throughputs(value, throughput, &mut values);
        format!("{:>6} {}", short(values[0]), unit)
    }

    /// Scales `values` to a unit suited to `typical_value`; returns the unit.
    fn scale_values(&self, typical_value: f64, values: &mut [f64]) -> &'static str;

    /// Turns `values` into throughputs in a unit suited to `typical_value`.
    fn scale_throughputs(
        &self,
        typical_value: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str;

    /// The unit of the raw values, for machines (`ns` for wall time).
    fn scale_for_machines(&self, values: &mut [f64]) -> &'static str;
}

/// What is measured: a start, an end, and how values add up.
pub trait Measurement {
    /// What `start` returns.
    type Intermediate;
    /// A measured value.
    type Value;
    /// Starts a measurement.
    fn start(&self) -> Self::Intermediate;
    /// Ends it.
    fn end(&self, i: Self::Intermediate) -> Self::Value;
    /// The sum of two values.
    fn add(&self, v1: &Self::Value, v2: &Self::Value) -> Self::Value;
    /// The value that adds nothing.
    fn zero(&self) -> Self::Value;
    /// A value as a number.
    fn to_f64(&self, value: &Self::Value) -> f64;
    /// How values are shown.
    fn formatter(&self) -> &dyn ValueFormatter;
}

/// A number with four significant digits.
fn short(n: f64) -> String {
    if n < 10.0 {
        format!("{n:.4}")
    } else if n < 100.0 {
        format!("{n:.3}")
    } else if n < 1000.0 {
        format!("{n:.2}")
    } else if n < 10000.0 {
        format!("{n:.1}")
    } else {
        format!("{n:.0}")
    }
}

/// Nanoseconds shown in ps, ns, µs, ms or s.
struct DurationFormatter;

impl DurationFormatter {
    /// `per_iteration` units of work per iteration as a rate, in steps of `step`.
    fn rate(
        per_iteration: f64,
        typical: f64,
        values: &mut [f64],
        step: f64,
        units: [&'static str; 4],
    ) -> &'static str {
        let rate = per_iteration * 1e9 / typical;
        let power = (0..3).take_while(|&k| rate >= step.powi(k + 1)).count();
        let denominator = step.powi(power as i32);
        for v in values {
            *v = per_iteration * 1e9 / *v / denominator;
        }
        units[power]
    }
}

impl ValueFormatter for DurationFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1.0 {
            (1e3, "ps")
        } else if ns < 1e3 {
            (1.0, "ns")
        } else if ns < 1e6 {
            (1e-3, "µs")
        } else if ns < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        match *throughput {
            Throughput::Bits(n) => Self::rate(
                n as f64,
                typical,
                values,
                1e3,
                ["  b/s", "Kb/s", "Mb/s", "Gb/s"],
            ),
            Throughput::Bytes(n) => Self::rate(
                n as f64,
                typical,
                values,
                1024.0,
                ["  B/s", "KiB/s", "MiB/s", "GiB/s"],
            ),
            Throughput::BytesDecimal(n) => Self::rate(
                n as f64,
                typical,
                values,
                1e3,
                ["  B/s", "KB/s", "MB/s", "GB/s"],
            ),
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => {
                Self::rate(
                    n as f64,
                    typical,
                    values,
                    1e3,
                    [" elem/s", "Kelem/s", "Melem/s", "Gelem/s"],
                )
            }
        }
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// Wall-clock time, in nanoseconds.
pub struct WallTime;

impl Measurement for WallTime {
    type Intermediate = Instant;
    type Value = Duration;

    fn start(&self) -> Instant {
        Instant::now()
    }

    fn end(&self, i: Instant) -> Duration {
        i.elapsed()
    }

    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &DurationFormatter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_rates_are_scaled_to_a_readable_unit() {
        let f = DurationFormatter;
        assert_eq!(f.format_value(1_500.0), "1.5000 µs");
        assert_eq!(f.format_value(0.5), "500.00 ps");
        // 1000 elements in 1 µs: 1e9 elements per second.
        assert_eq!(
            f.format_throughput(&Throughput::Elements(1000), 1_000.0),
            "1.0000 Gelem/s"
        );
        assert_eq!(
            f.format_throughput(&Throughput::Bytes(1024), 1e9),
            "1.0000 KiB/s"
        );
    }
}
