//! Machinery that makes the site fast and robust, apart from the rules it serves: the HTTP
//! server loop, the page cache, the batched reader and the group-commit writer. Nothing here knows about billing
//! or sessions; what it needs from them is handed in.

pub mod batch_reader;
pub mod group_commit;
pub mod http;
pub mod page_cache;
