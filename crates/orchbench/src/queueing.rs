//! The analytic M/M/c queue with a fixed dispatch delay (the published queueing study's
//! documents): Poisson arrivals at rate λ, `c` servers with exponential service at rate μ
//! each, and a dispatch (network) delay `d` added to every task.
//!
//! With a = λ/μ and ρ = a/c:
//! - P0 = [Σ_{n<c} aⁿ/n! + a^c/(c!(1−ρ))]⁻¹,
//! - Lq = P0 · a^c · ρ / (c! (1−ρ)²), Wq = Lq/λ,
//! - latency T = d + Wq + 1/μ, and throughput = λ while ρ < 1.
//!
//! Nothing here computes a factorial or a power of a directly: the Erlang B recursion
//! B(n) = a·B(n−1)/(n + a·B(n−1)) gives the Erlang C probability of waiting, and Lq
//! follows from it, so the results stay finite and accurate for c in the thousands. P0
//! alone needs a^c/c!, taken in logarithms; it underflows to 0 only where it is below
//! 1e-308. An unstable system (ρ ≥ 1) is an error, never a number.

use serde::Serialize;

/// Why a queue cannot be solved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueueingError {
    /// A parameter is out of range; the message names it and its value.
    #[error("{parameter} must be {expected}, got {value}")]
    Invalid {
        /// The parameter's name.
        parameter: &'static str,
        /// What it must be.
        expected: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// Arrivals meet or exceed capacity (ρ = λ/(cμ) ≥ 1): the queue grows without bound.
    #[error(
        "unstable: utilisation ρ = {utilisation:.4} ≥ 1 (arrivals {arrival_rate}/s, capacity {capacity}/s)"
    )]
    Unstable {
        /// ρ = λ/(cμ).
        utilisation: f64,
        /// λ.
        arrival_rate: f64,
        /// cμ.
        capacity: f64,
    },
}

/// An M/M/c queue with dispatch delay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mmc {
    /// λ: arrivals per second.
    pub arrival_rate: f64,
    /// μ: tasks per second one server completes.
    pub service_rate: f64,
    /// c: servers (workers).
    pub servers: u32,
    /// d: seconds every task spends in dispatch before it reaches a server.
    pub dispatch_delay: f64,
}

/// The steady-state figures of a stable M/M/c queue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MmcSolution {
    /// ρ = λ/(cμ).
    pub utilisation: f64,
    /// P0: probability that the system is empty.
    pub p0: f64,
    /// Erlang C: probability that an arriving task waits.
    pub erlang_c: f64,
    /// Lq: mean number of tasks waiting.
    pub queue_length: f64,
    /// Wq = Lq/λ: mean wait in the queue, seconds.
    pub queue_wait: f64,
    /// T = d + Wq + 1/μ: mean latency, seconds.
    pub latency: f64,
    /// Tasks per second completed: λ.
    pub throughput: f64,
}

impl Mmc {
    /// A queue; nothing is checked until [`Mmc::solve`].
    pub fn new(arrival_rate: f64, service_rate: f64, servers: u32, dispatch_delay: f64) -> Mmc {
        Mmc {
            arrival_rate,
            service_rate,
            servers,
            dispatch_delay,
        }
    }

    /// Solves the queue: invalid parameters and ρ ≥ 1 are errors.
    pub fn solve(&self) -> Result<MmcSolution, QueueingError> {
        let invalid = |parameter, expected, value| QueueingError::Invalid {
            parameter,
            expected,
            value,
        };
        let (lambda, mu, d) = (self.arrival_rate, self.service_rate, self.dispatch_delay);
        if !(lambda.is_finite() && lambda > 0.0) {
            return Err(invalid("arrival rate", "a finite rate > 0", lambda));
        }
        if !(mu.is_finite() && mu > 0.0) {
            return Err(invalid("service rate", "a finite rate > 0", mu));
        }
        if !(d.is_finite() && d >= 0.0) {
            return Err(invalid("dispatch delay", "finite and >= 0", d));
        }
        if self.servers == 0 {
            return Err(invalid("servers", "at least 1", 0.0));
        }
        let c = f64::from(self.servers);
        let a = lambda / mu;
        let rho = a / c;
        if rho >= 1.0 {
            return Err(QueueingError::Unstable {
                utilisation: rho,
                arrival_rate: lambda,
                capacity: c * mu,
            });
        }
        // Erlang B by recursion, then Erlang C = B / (1 − ρ(1 − B)).
        let mut b = 1.0f64;
        for n in 1..=self.servers {
            b = a * b / (f64::from(n) + a * b);
        }
        // The gate's regression demonstration (tests/instructions.rs): the same recursion
        // computed a second time, the same result at about 10 % more instructions per
        // sweep. Only in builds with the test-only `regression-demo` feature.
        #[cfg(feature = "regression-demo")]
        {
            let mut again = 1.0f64;
            for n in 1..=self.servers {
                again = std::hint::black_box(a * again / (f64::from(n) + a * again));
            }
            b = again;
        }
        let erlang_c = b / (1.0 - rho * (1.0 - b));
        let queue_length = erlang_c * rho / (1.0 - rho);
        let queue_wait = queue_length / lambda;
        // P0 = (c!/a^c) / (1/B − 1 + 1/(1 − ρ)), with ln(a^c/c!) summed term by term.
        let ln_term: f64 = (1..=self.servers).map(|n| (a / f64::from(n)).ln()).sum();
        let p0 = (-ln_term).exp() / (1.0 / b - 1.0 + 1.0 / (1.0 - rho));
        Ok(MmcSolution {
            utilisation: rho,
            p0,
            erlang_c,
            queue_length,
            queue_wait,
            latency: d + queue_wait + 1.0 / mu,
            throughput: lambda,
        })
    }
}

/// Solves the queue for 1..=`max_servers` servers: the published queueing study's table.
pub fn sweep(
    arrival_rate: f64,
    service_rate: f64,
    dispatch_delay: f64,
    max_servers: u32,
) -> Vec<(u32, Result<MmcSolution, QueueingError>)> {
    (1..=max_servers)
        .map(|c| {
            (
                c,
                Mmc::new(arrival_rate, service_rate, c, dispatch_delay).solve(),
            )
        })
        .collect()
}

/// The mean queue length at `utilisation` for `servers` servers (the published queueing study's "model
/// arrivals at 95 % of capacity" column).
pub fn queue_length_at(utilisation: f64, servers: u32) -> Result<f64, QueueingError> {
    // Any service rate gives the same Lq for a given ρ and c.
    Mmc::new(utilisation * f64::from(servers), 1.0, servers, 0.0)
        .solve()
        .map(|s| s.queue_length)
}

/// The exact sojourn times (dispatch excluded) of first-come-first-served service by
/// `servers` identical servers, for task `i` arriving at `arrivals[i]` (seconds,
/// non-decreasing) and needing `services[i]` seconds: the sample path the M/M/c
/// formulas average over, without any scheduler's overhead.
pub fn simulate_fcfs(arrivals: &[f64], services: &[f64], servers: u32) -> Vec<f64> {
    use std::cmp::Reverse;
    // Server free times as a min-heap of their bit patterns (non-negative floats order
    // like their bits).
    let mut free: std::collections::BinaryHeap<Reverse<u64>> = (0..servers.max(1))
        .map(|_| Reverse(0f64.to_bits()))
        .collect();
    arrivals
        .iter()
        .zip(services)
        .map(|(&arrival, &service)| {
            let Reverse(bits) = free.pop().unwrap_or(Reverse(0));
            let start = f64::from_bits(bits).max(arrival);
            let end = start + service;
            free.push(Reverse(end.to_bits()));
            end - arrival
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_matches_hand_worked_cases_and_the_model() {
        // One server: the second task waits for the first.
        assert_eq!(simulate_fcfs(&[0.0, 0.5], &[1.0, 1.0], 1), vec![1.0, 1.5]);
        // Two servers: no waiting.
        assert_eq!(simulate_fcfs(&[0.0, 0.5], &[1.0, 1.0], 2), vec![1.0, 1.0]);
        // A long exponential run converges on the model's latency.
        let mut rng = crate::workload::SplitMix64::new(7);
        let (lambda, mu, n) = (1.5, 1.0, 400_000);
        let mut t = 0.0;
        let arrivals: Vec<f64> = (0..n)
            .map(|_| {
                t += -(1.0 - rng.unit()).ln() / lambda;
                t
            })
            .collect();
        let services: Vec<f64> = (0..n).map(|_| -(1.0 - rng.unit()).ln() / mu).collect();
        let simulated = simulate_fcfs(&arrivals, &services, 2).iter().sum::<f64>() / n as f64;
        let model = Mmc::new(lambda, mu, 2, 0.0).solve().unwrap().latency;
        assert!(
            (simulated / model - 1.0).abs() < 0.03,
            "simulated {simulated} vs model {model}"
        );
    }

    /// Direct evaluation of the seed's formulas, for small c only (factorials overflow).
    fn textbook(lambda: f64, mu: f64, c: u32, d: f64) -> (f64, f64, f64) {
        let fact = |n: u32| (1..=n).map(f64::from).product::<f64>();
        let a = lambda / mu;
        let rho = a / f64::from(c);
        let sum: f64 = (0..c).map(|n| a.powi(n as i32) / fact(n)).sum();
        let p0 = 1.0 / (sum + a.powi(c as i32) / (fact(c) * (1.0 - rho)));
        let lq = p0 * a.powi(c as i32) * rho / (fact(c) * (1.0 - rho).powi(2));
        (p0, lq, d + lq / lambda + 1.0 / mu)
    }

    #[test]
    fn matches_the_textbook_formulas() {
        for (lambda, mu, c) in [
            (100.0, 120.0, 1),
            (100.0, 120.0, 2),
            (100.0, 120.0, 4),
            (950.0, 100.0, 10),
            (30.0, 2.0, 20),
        ] {
            let s = Mmc::new(lambda, mu, c, 0.005).solve().unwrap();
            let (p0, lq, t) = textbook(lambda, mu, c, 0.005);
            assert!(
                (s.p0 - p0).abs() <= 1e-12 * p0.max(1e-300),
                "c={c}: p0 {} vs {p0}",
                s.p0
            );
            assert!(
                (s.queue_length - lq).abs() <= 1e-9 * lq.max(1e-12),
                "c={c}: lq {} vs {lq}",
                s.queue_length
            );
            assert!(
                (s.latency - t).abs() <= 1e-12,
                "c={c}: T {} vs {t}",
                s.latency
            );
        }
    }

    #[test]
    fn reproduces_the_research_orchestrators_table_to_its_printed_precision() {
        // | 1 | 100.00 | 55.000 | 4.17 |, | 2 | 100.00 | 15.084 | 0.18 |,
        // | 3 | 100.00 | 13.555 | 0.02 |, | 4 | 100.00 | 13.362 | 0.00 |
        let expected = [
            (55.000, 4.17),
            (15.084, 0.18),
            (13.555, 0.02),
            (13.362, 0.00),
        ];
        for (c, result) in sweep(100.0, 120.0, 0.005, 4) {
            let s = result.unwrap();
            let (latency_ms, lq) = expected[c as usize - 1];
            assert_eq!(
                format!("{:.3}", s.latency * 1e3),
                format!("{latency_ms:.3}"),
                "c={c}"
            );
            assert_eq!(
                format!("{:.2}", s.queue_length),
                format!("{lq:.2}"),
                "c={c}"
            );
            assert_eq!(format!("{:.2}", s.throughput), "100.00");
        }
        // The published queueing study's first table: M/M/c at 95 % load.
        let at95: Vec<String> = (1..=8)
            .filter(|c| [1, 2, 4, 8].contains(c))
            .map(|c| format!("{:.2}", queue_length_at(0.95, c).unwrap()))
            .collect();
        assert_eq!(at95, ["18.05", "17.59", "16.94", "16.04"]);
    }

    #[test]
    fn stays_finite_for_a_thousand_servers() {
        for (c, rho) in [(1000u32, 0.5), (1000, 0.99), (1000, 0.999), (5000, 0.95)] {
            let lambda = rho * f64::from(c) * 10.0;
            let s = Mmc::new(lambda, 10.0, c, 0.0).solve().unwrap();
            for v in [s.p0, s.erlang_c, s.queue_length, s.queue_wait, s.latency] {
                assert!(v.is_finite() && v >= 0.0, "c={c} ρ={rho}: {s:?}");
            }
            assert!(s.erlang_c <= 1.0);
            assert!(s.latency >= 0.1);
        }
        // Many servers at moderate load: almost no waiting.
        let s = Mmc::new(5000.0, 10.0, 1000, 0.0).solve().unwrap();
        assert!(s.erlang_c < 1e-10 && s.queue_length < 1e-10, "{s:?}");
    }

    #[test]
    fn unstable_and_invalid_inputs_are_errors() {
        let err = Mmc::new(120.0, 120.0, 1, 0.0).solve().unwrap_err();
        assert!(matches!(err, QueueingError::Unstable { utilisation, .. } if utilisation == 1.0));
        assert!(
            err.to_string()
                .starts_with("unstable: utilisation ρ = 1.0000"),
            "{err}"
        );
        assert!(matches!(
            Mmc::new(500.0, 120.0, 4, 0.0).solve(),
            Err(QueueingError::Unstable { .. })
        ));
        for (m, name) in [
            (Mmc::new(0.0, 1.0, 1, 0.0), "arrival rate"),
            (Mmc::new(-1.0, 1.0, 1, 0.0), "arrival rate"),
            (Mmc::new(f64::NAN, 1.0, 1, 0.0), "arrival rate"),
            (Mmc::new(1.0, f64::INFINITY, 1, 0.0), "service rate"),
            (Mmc::new(1.0, 2.0, 1, -0.1), "dispatch delay"),
            (Mmc::new(1.0, 2.0, 0, 0.0), "servers"),
        ] {
            let err = m.solve().unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }
}
