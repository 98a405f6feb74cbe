//! `tessera`: see `tessera --help`.

fn main() -> std::process::ExitCode {
    tessera_server::cli::main()
}
