//! The future of the erroring and keyed limiters.

/// The future returned by [`Erroring`](crate::Erroring) and
/// [`Keyed`](crate::Keyed): the endpoint's, or the refusal of a limited call
/// (kit-endpoint's [`RefusableFuture`](kit_endpoint::RefusableFuture)).
pub type ErroringFuture<F> = kit_endpoint::RefusableFuture<F>;
