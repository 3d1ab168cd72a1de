//! End-to-end tests. One binary (modules below) so the suite links once.

mod cli;
mod cluster;
mod common;
mod example;
mod fuzz;
mod gen;
mod ml;
mod pruning;
mod repl;
mod s3;
mod s3_server;
mod submit;
mod tpch;
mod write;
