//! `cruddur-store`: creates Cruddur's DynamoDB table where no CloudFormation stack does (DynamoDB
//! Local under `scripts/dev --dynamodb`, an account without the stack). Deployed, the stack owns
//! the table; the functions only read and write it, so none of them carries the table-management
//! calls.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cruddur_core::DynamoStore;

#[derive(Parser)]
#[command(
    name = "cruddur-store",
    version,
    about = "Creates Cruddur's DynamoDB table where no stack does (DynamoDB Local, a test account)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table with the functions' keys and indexes, TTL on `ttl`, billed per request.
    /// A table that exists already is left as it is. Endpoint, region and credentials come from
    /// the variables the functions read (AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION,
    /// AWS_ACCESS_KEY_ID, ...); with a local endpoint, region and credentials are optional.
    CreateTable {
        /// The table's name.
        #[arg(long, env = "CRUDDUR_TABLE_NAME", default_value = "cruddur")]
        table: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::CreateTable { table } => {
            match DynamoStore::from_env(table.clone()).create_table().await {
                Ok(()) => {
                    println!("table {table} is ready");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("cruddur-store: could not create table {table}: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
