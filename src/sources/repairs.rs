//! The repair record: what a forgiving reader had to fix to read a feed,
//! counted, so that a repaired feed is still `ok` and still says so
//! (`bare ampersand escaped ×3`).

use std::borrow::Cow;

/// Repairs, in the order first met, with how often each was needed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Repairs {
    counts: Vec<(Cow<'static, str>, usize)>,
}

impl Repairs {
    /// Notes one more of `what`.
    pub(super) fn note(&mut self, what: impl Into<Cow<'static, str>>) {
        self.note_n(what, 1);
    }

    /// Notes `n` more of `what`.
    pub(super) fn note_n(&mut self, what: impl Into<Cow<'static, str>>, n: usize) {
        if n == 0 {
            return;
        }
        let what = what.into();
        match self.counts.iter_mut().find(|(w, _)| *w == what) {
            Some((_, count)) => *count += n,
            None => self.counts.push((what, n)),
        }
    }

    /// One line per kind of repair: `bare ampersand escaped ×3`.
    pub(super) fn into_warnings(self) -> Vec<String> {
        self.counts
            .into_iter()
            .map(|(what, n)| {
                if n == 1 {
                    what.into_owned()
                } else {
                    format!("{what} ×{n}")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_are_counted_in_the_order_first_met() {
        let mut repairs = Repairs::default();
        repairs.note("bare ampersand escaped");
        repairs.note("mismatched end tag closed");
        repairs.note_n("bare ampersand escaped", 2);
        assert_eq!(
            repairs.into_warnings(),
            ["bare ampersand escaped ×3", "mismatched end tag closed"]
        );
    }
}
