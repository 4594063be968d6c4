//! The plan cache: returns the previous plan for an unchanged graph in microseconds.
//!
//! Entries are keyed by [`Dag::structural_hash`], which the graph maintains as it is
//! built, so a lookup never rehashes the graph; a hit is then verified by comparing the
//! graph with the stored copy, so a hash collision costs a re-plan, never a wrong plan.
//! The cache is `Sync`: planning happens outside its lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Dag, Plan, PlanError};

/// Hit and miss counts of a [`PlanCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to plan.
    pub misses: u64,
    /// Plans currently held.
    pub entries: usize,
}

struct Entry {
    dag: Dag,
    plan: Arc<Plan>,
    last_used: u64,
}

struct Inner {
    entries: HashMap<u64, Entry>,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// A bounded, thread-safe cache of plans keyed by graph structure; the least recently
/// used plan is evicted when it is full.
pub struct PlanCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl PlanCache {
    /// The capacity of [`PlanCache::default`].
    pub const DEFAULT_CAPACITY: usize = 64;

    /// A cache holding at most `capacity` plans (at least one).
    pub fn new(capacity: usize) -> Self {
        PlanCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                clock: 0,
                hits: 0,
                misses: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (entries are inserted whole), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The plan of `dag`: the cached one if an identical graph was planned before,
    /// otherwise a new plan, which is then cached. Errors are returned, not cached.
    pub fn get_or_build(&self, dag: &Dag) -> Result<Arc<Plan>, PlanError> {
        let key = dag.structural_hash();
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let now = inner.clock;
            if let Some(entry) = inner.entries.get_mut(&key)
                && entry.dag.same_structure(dag)
            {
                entry.last_used = now;
                let plan = Arc::clone(&entry.plan);
                inner.hits += 1;
                return Ok(plan);
            }
            inner.misses += 1;
        }
        let plan = Arc::new(Plan::build(dag)?);
        let mut inner = self.lock();
        if inner.entries.len() >= self.capacity
            && !inner.entries.contains_key(&key)
            && let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
        {
            inner.entries.remove(&oldest);
        }
        let now = inner.clock;
        inner.entries.insert(
            key,
            Entry {
                dag: dag.clone(),
                plan: Arc::clone(&plan),
                last_used: now,
            },
        );
        Ok(plan)
    }

    /// Hit/miss counts and the number of plans held.
    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            hits: inner.hits,
            misses: inner.misses,
            entries: inner.entries.len(),
        }
    }

    /// Drops every cached plan (the counts are kept).
    pub fn clear(&self) {
        self.lock().entries.clear();
    }
}

impl Default for PlanCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_returns_the_same_plan() {
        let cache = PlanCache::default();
        let dag = Dag::from_edges(&[1.0, 2.0], &[(0, 1)]).unwrap();
        let first = cache.get_or_build(&dag).unwrap();
        let again = cache.get_or_build(&dag.clone()).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                misses: 1,
                entries: 1
            }
        );
    }

    #[test]
    fn changed_graph_is_replanned() {
        let cache = PlanCache::default();
        let a = Dag::from_edges(&[1.0, 2.0], &[(0, 1)]).unwrap();
        let b = Dag::from_edges(&[1.0, 3.0], &[(0, 1)]).unwrap();
        let pa = cache.get_or_build(&a).unwrap();
        let pb = cache.get_or_build(&b).unwrap();
        assert_eq!(pa.critical_path_cost(), 3.0);
        assert_eq!(pb.critical_path_cost(), 4.0);
        assert_eq!(cache.stats().misses, 2);
    }

    #[test]
    fn errors_are_not_cached_and_lru_evicts() {
        let cache = PlanCache::new(2);
        let cyclic = Dag::from_edges(&[1.0, 1.0], &[(0, 1), (1, 0)]).unwrap();
        assert!(cache.get_or_build(&cyclic).is_err());
        assert_eq!(cache.stats().entries, 0);
        let dags: Vec<Dag> = (0..3)
            .map(|i| Dag::from_edges(&[f64::from(i)], &[]).unwrap())
            .collect();
        cache.get_or_build(&dags[0]).unwrap();
        cache.get_or_build(&dags[1]).unwrap();
        cache.get_or_build(&dags[0]).unwrap(); // 0 is now the most recent
        cache.get_or_build(&dags[2]).unwrap(); // evicts 1
        assert_eq!(cache.stats().entries, 2);
        let before = cache.stats().misses;
        cache.get_or_build(&dags[0]).unwrap();
        assert_eq!(cache.stats().misses, before, "0 should still be cached");
        cache.get_or_build(&dags[1]).unwrap();
        assert_eq!(
            cache.stats().misses,
            before + 1,
            "1 should have been evicted"
        );
    }
}
