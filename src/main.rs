fn main() -> std::process::ExitCode {
    ferrocast_server::main()
}
