//! One error alias and the helpers that look down an error's source chain.

use std::error::Error;
use std::fmt;

/// The error type of every endpoint: any error, boxed.
///
/// Endpoints and middlewares return `BoxError` so that layers compose without
/// converting between error types. A middleware that adds a failure of its own
/// returns a small named type (like [`DeadlineExceeded`]) boxed into it; code that
/// needs to react to a specific failure finds it with [`cause_ref`], which looks
/// through any number of wrappers. A concrete enum is the better choice inside a
/// domain module, where the set of failures is closed (see the example services).
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Returns the first error of type `E` in `err`'s source chain, `err` included.
///
/// This is how transports map errors to statuses: wrapping an error in another
/// (with `source()` pointing at it) never hides what it was.
///
/// ```
/// use kit_endpoint::{cause_ref, BoxError, DeadlineExceeded};
///
/// let err: BoxError = DeadlineExceeded::new().into();
/// assert!(cause_ref::<DeadlineExceeded>(&*err).is_some());
/// assert!(cause_ref::<std::fmt::Error>(&*err).is_none());
/// ```
pub fn cause_ref<'a, E: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a E> {
    sources(err).find_map(|e| e.downcast_ref::<E>())
}

/// `err` and every error down its source chain, outermost first: what every
/// lookup by type or class walks (a transport's status mapping, say).
///
/// ```
/// use kit_endpoint::{sources, BoxError, Classified, ErrorClass};
/// let err: BoxError = Classified::new(ErrorClass::NotFound, "gone").into();
/// assert_eq!(sources(&*err).count(), 2);
/// ```
pub fn sources<'a>(
    err: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |e: &&'a (dyn Error + 'static)| (*e).source())
}

/// Splits a service's error in two: `Ok(e)` when an error of type `E` (the
/// domain's business error) is in its source chain, to be kept in the
/// endpoint's response; `Err(err)`, unchanged, when it is a failure, to be the
/// endpoint's error.
///
/// ```
/// use kit_endpoint::{take_cause, BoxError, DeadlineExceeded};
///
/// #[derive(Debug, Clone, PartialEq)]
/// struct Overflow;
/// impl std::fmt::Display for Overflow {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("integer overflow")
///     }
/// }
/// impl std::error::Error for Overflow {}
///
/// assert_eq!(take_cause::<Overflow>(Overflow.into()).unwrap(), Overflow);
/// let failure: BoxError = DeadlineExceeded::new().into();
/// assert!(take_cause::<Overflow>(failure).unwrap_err().is::<DeadlineExceeded>());
/// ```
pub fn take_cause<E: Error + Clone + 'static>(err: BoxError) -> Result<E, BoxError> {
    match cause_ref::<E>(&*err) {
        Some(e) => Ok(e.clone()),
        None => Err(err),
    }
}

/// Whether an error of type `E` is anywhere in `err`'s source chain, `err` included.
pub fn is_caused_by<E: Error + 'static>(err: &(dyn Error + 'static)) -> bool {
    cause_ref::<E>(err).is_some()
}

/// The request's deadline passed before the work was done.
///
/// Returned by [`Deadline`](crate::Deadline) (and by kit's transports) instead of
/// calling an endpoint whose time budget is already spent, or when the budget runs
/// out while the endpoint works. HTTP transports map it to `504 Gateway Timeout`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadlineExceeded(());

impl DeadlineExceeded {
    /// A new `DeadlineExceeded` error.
    pub fn new() -> Self {
        DeadlineExceeded(())
    }
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl Error for DeadlineExceeded {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An error that wraps another (its `source()`), for tests of lookups
    /// down the source chain.
    #[derive(Debug)]
    pub(crate) struct Wrapper(pub(crate) BoxError);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "wrapped: {}", self.0)
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn cause_ref_finds_an_error_under_several_wrappers() {
        let err: BoxError = Box::new(Wrapper(Box::new(Wrapper(DeadlineExceeded::new().into()))));
        assert!(is_caused_by::<DeadlineExceeded>(&*err));
        assert!(cause_ref::<Wrapper>(&*err).is_some());
        assert!(!is_caused_by::<std::fmt::Error>(&*err));
    }
}
