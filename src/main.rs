//! The `modelseal` command-line tool.

fn main() {}
