mod config;
mod hostile;
mod open_webui;
mod plan;
mod supervisor;
mod support;
mod watch;
