//! The wire vocabulary of each service, generated from botocore's models: CodePipeline's at the
//! root, CodeStar connections' in `connections`, CodeDeploy's in `codedeploy`, CodeCommit's in `codecommit`, SNS's in `sns` (the Query protocol, read and written by `query`), EventBridge's in `events`, Lambda's in `lambda`, CloudWatch Logs' in `logs` (and the host agent's
//! command protocol, which botocore does not carry, written by hand in `codedeploy_commands`). CodePipeline's: the `Operation` enum, the request and response shapes and
//! their constraints, generated from botocore's model (see `generated.rs`), plus the checks that
//! turn a JSON body into a typed request exactly as AWS does (`decode`).

#[rustfmt::skip]
pub mod codecommit;
#[rustfmt::skip]
pub mod codedeploy;
pub mod codedeploy_commands;
#[rustfmt::skip]
pub mod connections;
mod decode;
#[rustfmt::skip]
pub mod events;
#[rustfmt::skip]
mod generated;
#[rustfmt::skip]
pub mod lambda;
#[rustfmt::skip]
pub mod logs;
#[cfg(test)]
mod properties;
pub mod query;
mod shape;
#[rustfmt::skip]
pub mod sns;

pub use decode::{decode, decode_in, decode_value_in, DecodeError};
pub use generated::*;
pub use shape::{shape, shape_in, Member, ShapeDef, ShapeTable};
