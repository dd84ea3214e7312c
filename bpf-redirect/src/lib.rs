//! The XDP redirect program (C, built with clang) and its loader. Not implemented yet.
#![forbid(unsafe_code)]
