//! The `bnnppl` binary: hands the arguments to the CLI and exits with its code.

fn main() {
    let code = bnnppl::cli::main_with_args(std::env::args().collect());
    std::process::exit(code);
}
