//! The `layer` binary: parse arguments, run, print the error chain.

fn main() {
    // The script sandbox re-executes this program as its init.
    compose::sandbox::init_main();
    let code = match layer::cli::run(std::env::args_os()) {
        Ok(code) => code,
        // A reader that stopped early (`layer repo ls | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            layer::cli::exit_code(&e)
        }
    };
    std::process::exit(code);
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().filter_map(|c| c.downcast_ref::<std::io::Error>()).any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
