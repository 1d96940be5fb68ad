mod config;
mod supervisor;
mod support;
mod plan;
