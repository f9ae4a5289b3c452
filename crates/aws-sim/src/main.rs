//! `aws-sim`: run the local AWS endpoint as a process.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A local AWS endpoint (EC2, SSM, WorkSpaces, AppStream 2.0) for tests, benchmarks and the sandbox.
#[derive(Parser)]
#[command(name = "aws-sim", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Keep the simulated cloud in this folder between runs.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Make every pending phase instant.
    #[arg(long)]
    instant: bool,
    /// Play the person who follows an apply's wait line: register each builder's SSM agent with the
    /// activation id and code read from its `/recipe/activation/…` parameter (the sandbox's
    /// behaviour; otherwise only a base image's recipe bootstrap or `POST /_sim/ssm/register` does).
    #[arg(long)]
    operator: bool,
    /// Back Linux instances with real root filesystems in this folder, where SSM commands really
    /// run (needs bubblewrap; Debian roots need mmdebstrap). See docs/sandbox.md.
    #[arg(long, value_name = "DIR")]
    machines: Option<PathBuf>,
}

#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the binary reports where it listens"
)]
fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aws-sim: cannot start: {e}");
            return std::process::ExitCode::from(70);
        }
    };
    rt.block_on(async {
        let config = aws_sim::Config {
            addr: args.listen,
            durations: if args.instant { aws_sim::Durations::instant() } else { aws_sim::Durations::default() },
            state_dir: args.state_dir,
            operator: args.operator,
            machines: args.machines.map(aws_sim::MachineConfig::under),
            ..Default::default()
        };
        let sim = match aws_sim::Sim::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("aws-sim: cannot listen on {}: {e}", args.listen);
                return std::process::ExitCode::from(74);
            }
        };
        println!("aws-sim listening on {}", sim.url());
        println!("use it with: AWS_ENDPOINT_URL={} AWS_ACCESS_KEY_ID=123456789012 AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1", sim.url());
        let _ = tokio::signal::ctrl_c().await;
        sim.stop().await;
        std::process::ExitCode::SUCCESS
    })
}
