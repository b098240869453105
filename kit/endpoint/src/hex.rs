//! Lower-case hex, shared by request IDs and trace IDs.

/// `byte`'s two lower-case hex digits, from a table (request and trace IDs).
pub(crate) fn hex_pair(byte: u8) -> [u8; 2] {
    static PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0; 2]; 256];
        let mut b = 0;
        while b < 256 {
            pairs[b] = [DIGITS[b >> 4], DIGITS[b & 15]];
            b += 1;
        }
        pairs
    };
    PAIRS[byte as usize]
}
