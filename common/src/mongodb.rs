//! The one way tickwatch builds a MongoDB client.

use mongodb::options::ClientOptions;
use std::time::Duration;

/// A client for `uri`, named `app_name` in the server's logs, that gives up on selecting
/// a server or opening a connection after `timeout` (the driver waits 30 s by default,
/// far past any scrape or send budget). The error names what is wrong, never the URI
/// itself (it may hold a password).
pub async fn client(uri: &str, app_name: &str, timeout: Duration) -> Result<mongodb::Client, String> {
    let mut options = ClientOptions::parse(uri).await.map_err(|e| format!("cannot use the MongoDB URI: {}", e.kind))?;
    options.app_name = Some(app_name.to_owned());
    options.server_selection_timeout = Some(timeout);
    options.connect_timeout = Some(timeout);
    mongodb::Client::with_options(options).map_err(|e| format!("cannot build the MongoDB client: {}", e.kind))
}
