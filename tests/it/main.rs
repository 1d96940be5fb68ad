mod config;
mod supervisor;
mod support;
mod watch;
mod plan;
