//! The `palisade` binary.
#![forbid(unsafe_code)]

fn main() {
    println!("palisade: not yet");
}
