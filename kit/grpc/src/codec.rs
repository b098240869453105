//! tonic's protobuf codec, with kit's answer to a message that does not
//! decode.

use tonic::Status;

/// tonic's protobuf codec, answering a request message that does not decode
/// with `INVALID_ARGUMENT` (the caller's fault) instead of tonic's `INTERNAL`.
pub(crate) struct Checked<C>(pub(crate) C);

impl<C: tonic::codec::Codec> tonic::codec::Codec for Checked<C> {
    type Encode = C::Encode;
    type Decode = C::Decode;
    type Encoder = C::Encoder;
    type Decoder = CheckedDecoder<C::Decoder>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder(self.0.decoder())
    }
}

pub(crate) struct CheckedDecoder<D>(D);

impl<D: tonic::codec::Decoder<Error = Status>> tonic::codec::Decoder for CheckedDecoder<D> {
    type Item = D::Item;
    type Error = Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, Status> {
        self.0.decode(src).map_err(|status| {
            Status::invalid_argument(format!("invalid request message: {}", status.message()))
        })
    }

    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        self.0.buffer_settings()
    }
}
