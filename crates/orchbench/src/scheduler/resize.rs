//! The adaptive pool's sizing decision, apart from the pool: what one periodic check
//! saw, and whether the pool grows, retires a worker or stays. Pure, so its rules are
//! tested by themselves.

use super::Adaptive;

/// What one adaptive check saw.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seen {
    /// Tasks queued.
    pub(super) backlog: usize,
    /// Workers the pool is sized for.
    pub(super) target: usize,
    /// Workers running a task.
    pub(super) busy: usize,
}

/// One adaptive check's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resize {
    /// Spawn this many workers.
    Grow(usize),
    /// Retire one worker.
    Retire,
    /// Leave the size as it is.
    Keep,
}

/// Decides one check: `quiet` counts the quiet checks in a row and is updated.
pub(super) fn resize(seen: Seen, quiet: &mut u32, adaptive: &Adaptive) -> Resize {
    let Seen {
        backlog,
        target,
        busy,
    } = seen;
    // Queued tasks that no idle worker is there to take. A task queued a moment ago
    // while workers sit idle only waits for one of them to wake: growing for it made
    // a pool at half its load grow back after every shrink.
    let unserved = backlog.saturating_sub(target.saturating_sub(busy));
    if unserved > 0 && target < adaptive.max {
        *quiet = 0;
        // Grow by the unserved backlog, at most doubling per check (target >= min >= 1).
        Resize::Grow(unserved.min(target).min(adaptive.max - target))
    } else if backlog == 0 && busy * 2 < target && target > adaptive.min {
        *quiet += 1;
        if *quiet >= adaptive.scale_down_after {
            *quiet = 0;
            Resize::Retire
        } else {
            Resize::Keep
        }
    } else {
        *quiet = 0;
        Resize::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_checks_grow_only_for_tasks_no_idle_worker_can_take() {
        let adaptive = Adaptive::between(2, 20);
        let seen = |backlog, target, busy| Seen {
            backlog,
            target,
            busy,
        };
        let mut quiet = 0;
        // Two tasks just queued, eight workers idle: they will be taken, no growth.
        assert_eq!(resize(seen(2, 12, 4), &mut quiet, &adaptive), Resize::Keep);
        // Nine queued, two idle: seven unserved.
        assert_eq!(
            resize(seen(9, 12, 10), &mut quiet, &adaptive),
            Resize::Grow(7)
        );
        // At most doubling, never past max.
        assert_eq!(
            resize(seen(50, 4, 4), &mut quiet, &adaptive),
            Resize::Grow(4)
        );
        assert_eq!(
            resize(seen(50, 18, 18), &mut quiet, &adaptive),
            Resize::Grow(2)
        );
        assert_eq!(
            resize(seen(50, 20, 20), &mut quiet, &adaptive),
            Resize::Keep
        );
        // Busy workers outnumbering the target (retiring ones finishing) leave all
        // queued tasks unserved.
        assert_eq!(
            resize(seen(3, 6, 8), &mut quiet, &adaptive),
            Resize::Grow(3)
        );
    }

    #[test]
    fn adaptive_checks_retire_after_a_run_of_quiet_ones_and_a_busy_one_resets_it() {
        let adaptive = Adaptive::between(2, 20);
        let quiet_check = Seen {
            backlog: 0,
            target: 12,
            busy: 5,
        };
        let mut quiet = 0;
        for _ in 0..adaptive.scale_down_after - 1 {
            assert_eq!(resize(quiet_check, &mut quiet, &adaptive), Resize::Keep);
        }
        // A check with a task queued (though idle workers can take it) is not quiet.
        let queued = Seen {
            backlog: 1,
            ..quiet_check
        };
        assert_eq!(resize(queued, &mut quiet, &adaptive), Resize::Keep);
        assert_eq!(quiet, 0);
        for _ in 0..adaptive.scale_down_after - 1 {
            assert_eq!(resize(quiet_check, &mut quiet, &adaptive), Resize::Keep);
        }
        assert_eq!(resize(quiet_check, &mut quiet, &adaptive), Resize::Retire);
        // Half the workers busy is not quiet; neither is the minimum.
        let half = Seen {
            busy: 6,
            ..quiet_check
        };
        let at_min = Seen {
            target: 2,
            busy: 0,
            ..quiet_check
        };
        for _ in 0..2 * adaptive.scale_down_after {
            assert_eq!(resize(half, &mut quiet, &adaptive), Resize::Keep);
            assert_eq!(resize(at_min, &mut quiet, &adaptive), Resize::Keep);
        }
    }
}
