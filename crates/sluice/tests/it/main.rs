//! The one integration-test binary: the real server on an ephemeral port, spoken to over HTTP.

mod action_types;
mod audit;
mod auth;
mod canary;
mod console;
mod crash_loop;
mod deploy;
mod durability;
mod first_hour;
mod fixtures;
mod hosted_git;
mod multipart;
mod pipelines;
mod protocol;
mod providers;
mod roles;
mod runs;
mod sandbox;
mod secrets;
mod tags;
mod tls;
mod transitions;
mod unauthenticated;
mod v2_fields;
mod validation;
mod webhooks;
