//! AF_XDP port I/O (UMEM, fill/completion/RX/TX rings) with a safe frame-ownership layer.
//! The one crate besides the XDP loader where `unsafe` may live. Not implemented yet.
