//! Entry point: the arguments go to `cli::run`, its status becomes the exit
//! code.

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::ExitCode::from(taskmaster::cli::run(args))
}
