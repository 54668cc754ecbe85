//! A set of disjoint half-open millisecond intervals.

/// Sorted, disjoint, non-touching `[start, end)` intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Coverage {
    spans: Vec<(i64, i64)>,
}

impl Coverage {
    pub(crate) fn from_spans(mut spans: Vec<(i64, i64)>) -> Self {
        spans.retain(|(s, e)| s < e);
        spans.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        Coverage { spans: merged }
    }

    /// Total length of `[start, end)` that the set does not contain.
    pub(crate) fn uncovered(&self, start: i64, end: i64) -> i64 {
        if start >= end {
            return 0;
        }
        let first = self.spans.partition_point(|&(_, e)| e <= start);
        let mut missing = 0;
        let mut at = start;
        for &(s, e) in &self.spans[first..] {
            if s >= end {
                break;
            }
            if s > at {
                missing += s - at;
            }
            at = at.max(e);
            if at >= end {
                return missing;
            }
        }
        missing + (end - at).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_measures_holes() {
        let c = Coverage::from_spans(vec![(10, 20), (0, 5), (5, 8), (30, 40), (15, 25)]);
        assert_eq!(c.spans, vec![(0, 8), (10, 25), (30, 40)]);
        assert_eq!(c.uncovered(0, 8), 0);
        assert_eq!(c.uncovered(0, 10), 2);
        assert_eq!(c.uncovered(-5, 50), 5 + 2 + 5 + 10);
        assert_eq!(c.uncovered(26, 29), 3);
        assert_eq!(c.uncovered(9, 9), 0);
    }
}
