//! Host definitions as written: the TOML schema, loading the `hosts/` tree, and inheritance
//! (site -> group folders -> host). Nothing here judges values; that is `validate`'s job.

pub mod load;
pub mod located;
pub mod schema;
pub mod toml_errors;

pub use load::{Definitions, GROUP_FILE, HostDefinition, load};
pub use located::Located;
