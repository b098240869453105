//! How much a request matters: what overload protection refuses first.

use std::fmt;

/// How much a request matters to its caller, carried with the request like
/// its deadline (HTTP and gRPC `x-request-criticality`, NATS
/// `Kit-Criticality`) and passed on by every call made for it, so that a
/// whole call tree is shed together.
///
/// Overload protection (kit-overload) refuses [`Criticality::Sheddable`]
/// calls before critical ones. The default is [`Criticality::Critical`]: a
/// caller can only *lower* its priority. A value on the wire that is not one
/// of the known names is read as the default, never as anything above it.
///
/// ```
/// use kit_endpoint::{Context, Criticality};
/// assert_eq!(Criticality::parse("sheddable"), Criticality::Sheddable);
/// assert_eq!(Criticality::parse("vip-please"), Criticality::Critical);
/// let mut ctx = Context::new();
/// assert_eq!(ctx.criticality(), Criticality::Critical);
/// ctx.set_criticality(Criticality::Sheddable);
/// assert_eq!(ctx.criticality().as_str(), "sheddable");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Criticality {
    /// Work that may be dropped first when the service is overloaded:
    /// prefetches, batch jobs, retries of best-effort work.
    Sheddable,
    /// Work a user waits for: the default.
    #[default]
    Critical,
}

impl Criticality {
    /// The criticality named `s` (`critical` or `sheddable`, any case);
    /// anything else is the default, [`Criticality::Critical`].
    pub fn parse(s: &str) -> Criticality {
        if s.trim().eq_ignore_ascii_case("sheddable") {
            Criticality::Sheddable
        } else {
            Criticality::Critical
        }
    }

    /// Its name on the wire and in logs: `critical` or `sheddable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Sheddable => "sheddable",
            Criticality::Critical => "critical",
        }
    }

    /// Whether this is the default (transports send nothing for it).
    pub fn is_default(self) -> bool {
        self == Criticality::Critical
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_known_name_lowers_and_nothing_raises() {
        for (wire, want) in [
            ("sheddable", Criticality::Sheddable),
            ("SHEDDABLE", Criticality::Sheddable),
            (" sheddable ", Criticality::Sheddable),
            ("critical", Criticality::Critical),
            ("critical_plus", Criticality::Critical),
            ("", Criticality::Critical),
            ("shed", Criticality::Critical),
        ] {
            assert_eq!(Criticality::parse(wire), want, "{wire:?}");
        }
        assert!(Criticality::Sheddable < Criticality::Critical);
    }
}
