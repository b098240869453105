//! Extra work for the `padded` server: a fixed number of instructions per
//! request, run either from one small function ([`Shape::Compact`]) or from
//! [`FUNCTIONS`] distinct ones, ~30 KiB of code ([`Shape::Spread`]), about as
//! much as kit's stack adds to a request's code. The two shapes run the same
//! instructions; what tells them apart under load is what the code's size costs
//! the host (the instruction cache), which the instruction count does not show.

use std::hint::black_box;

/// How the padding's instructions are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One function, called [`FUNCTIONS`] times: a few cache lines.
    Compact,
    /// [`FUNCTIONS`] functions, each called once: ~30 KiB of code.
    Spread,
}

impl std::str::FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "compact" => Ok(Shape::Compact),
            "spread" => Ok(Shape::Spread),
            other => Err(format!("unknown shape {other:?}: compact or spread")),
        }
    }
}

/// How many functions the spread shape runs through (and how many calls the
/// compact one makes).
pub const FUNCTIONS: usize = 300;

/// One function per `K`: four independent lanes, two constants each, so that
/// the compiler keeps every instance apart and cannot fold it away.
#[inline(never)]
fn step<const K: u64>(s: &mut [u64; 4]) {
    let k = K.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    s[0] ^= k;
    s[1] = s[1].wrapping_add(k.rotate_left(17));
    s[2] ^= k.rotate_left(31);
    s[3] = s[3].wrapping_add(k.rotate_left(47));
}

macro_rules! ten {
    ($s:ident, $t:expr) => {
        step::<{ $t * 10 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 1 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 2 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 3 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 4 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 5 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 6 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 7 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 8 }>(black_box(&mut *$s));
        step::<{ $t * 10 + 9 }>(black_box(&mut *$s));
    };
}

macro_rules! hundred {
    ($s:ident, $h:expr) => {
        ten!($s, $h * 10);
        ten!($s, $h * 10 + 1);
        ten!($s, $h * 10 + 2);
        ten!($s, $h * 10 + 3);
        ten!($s, $h * 10 + 4);
        ten!($s, $h * 10 + 5);
        ten!($s, $h * 10 + 6);
        ten!($s, $h * 10 + 7);
        ten!($s, $h * 10 + 8);
        ten!($s, $h * 10 + 9);
    };
}

#[inline(never)]
fn spread(s: &mut [u64; 4]) {
    hundred!(s, 0);
    hundred!(s, 1);
    hundred!(s, 2);
}

/// Runs the padding once; returns a value the caller should `black_box`.
pub fn pad(shape: Shape) -> u64 {
    let mut s = black_box([1u64, 2, 3, 4]);
    match shape {
        Shape::Compact => {
            for _ in 0..FUNCTIONS {
                step::<1>(black_box(&mut s));
            }
        }
        Shape::Spread => spread(&mut s),
    }
    s[0] ^ s[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_an_unknown_one_is_named() {
        assert_eq!("compact".parse(), Ok(Shape::Compact));
        assert_eq!("spread".parse(), Ok(Shape::Spread));
        let err = "wide".parse::<Shape>().unwrap_err();
        assert!(
            err.contains("\"wide\"") && err.contains("compact or spread"),
            "{err}"
        );
    }

    #[test]
    fn the_padding_runs_and_depends_on_its_shape() {
        // Not folded away: the two shapes run different constants.
        assert_ne!(pad(Shape::Compact), pad(Shape::Spread));
        assert_eq!(pad(Shape::Spread), pad(Shape::Spread));
    }
}
