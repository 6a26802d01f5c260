//! CodePipeline's wire vocabulary: the `Operation` enum, the request and response shapes and
//! their constraints, generated from botocore's model (see `generated.rs`), plus the checks that
//! turn a JSON body into a typed request exactly as AWS does (`decode`).

mod decode;
#[rustfmt::skip]
mod generated;
#[cfg(test)]
mod properties;
mod shape;

pub use decode::{decode, DecodeError};
pub use generated::*;
pub use shape::{shape, Member, ShapeDef};
