//! Machinery that makes the site fast and robust, apart from the rules it serves: the HTTP
//! server loop, the page cache, the batched reader, the group-commit writer, the short-lived
//! answer cache, and the log's view of a request's address. Nothing here knows about billing or
//! sessions; what it needs from them is handed in.

pub mod batch_reader;
pub mod group_commit;
pub mod http;
pub mod page_cache;
pub mod redact;
pub mod ttl_cache;
