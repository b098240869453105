//! Who is calling: the peer identity a transport verified.

use std::fmt;
use std::sync::Arc;

/// The identity of the peer that sent a request, as its transport verified it:
/// with mutual TLS, the client certificate's first URI subject alternative name
/// (a SPIFFE ID such as `spiffe://example.org/ns/prod/sa/addsvc`), else its
/// first DNS name. Transports put it in the request's [`Context`](crate::Context)
/// ([`Context::peer_identity`](crate::Context::peer_identity)); the call's log
/// line writes it as `peer=`; middlewares (authorization) read it there.
///
/// Cloning shares one allocation. It is made once per connection, not per
/// request.
///
/// ```
/// use kit_endpoint::{Context, PeerIdentity};
///
/// let mut ctx = Context::new();
/// ctx.set_peer_identity(PeerIdentity::new("spiffe://example.org/addsvc"));
/// assert_eq!(ctx.peer_identity().unwrap().as_str(), "spiffe://example.org/addsvc");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PeerIdentity(Arc<str>);

impl PeerIdentity {
    /// An identity named `name` (a URI or a DNS name, as verified).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        PeerIdentity(name.into())
    }

    /// The identity as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerIdentity({:?})", &*self.0)
    }
}
