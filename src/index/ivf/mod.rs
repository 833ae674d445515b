//! A partitioned index for catalogues too large to rank exactly on a phone (issue 23): the
//! partition in memory (`partition`, its cells drawn in the space of the blended score:
//! `space`), built in steps a cluster runs apart (`fitted`, their files: `step_files`),
//! published as files (`manifest`, `write`, `published`; what was read of them ranked as a
//! catalogue: `read`), updated by delta segments (`delta`) and read in part (`lazy`, by
//! ranges or, from hosts without them, by part files: `reading`, `parts`);
//! `synthetic` draws catalogues that look like a real one, for measuring.
//! The items are partitioned into cells by k-means on their embeddings, colours and
//! categories (in two levels for many cells: `cells`); each item carries a product-quantised
//! code of its features (its embedding as the residual from its cell's centroid) in its
//! cell's list; a query probes the cells nearest to it, scores their codes by table lookups
//! and ranks the best candidates exactly with the blended score.

mod cells;
mod delta;
mod fitted;
mod jobs;
mod kmeans;
mod lazy;
mod manifest;
mod partition;
mod parts;
mod pq;
mod published;
mod q8;
mod read;
mod reading;
mod space;
mod step_files;
mod synthetic;
mod write;

pub use delta::{Changes, Held, Update, UpdatePolicy, held, update};
pub use fitted::{Fitted, Placed};
pub use kmeans::{SplitMix, distance2, kmeans, nearest};
pub use lazy::{CellCache, Found, Request, Trace, search, search_async};
pub use manifest::{
    Facets, MAX_CELLS, MAX_DELTAS, MAX_ITEM_BYTES, MAX_ITEMS, MAX_TOP_BYTES,
    PARTITIONED_FORMAT_VERSION, PARTITIONED_LAYOUT, PartitionedManifest, Parts, Segment,
    is_partitioned,
};
pub use partition::{Cell, Layout, Partitioned, Probe, Touched};
pub use parts::{Split, part_name, parts_folder};
pub use pq::{CENTROIDS, Measure, Part, Quantiser, SubspaceShape};
pub use published::{Plan, Published, Record};
pub use read::records_index;
pub use reading::{MERGE_GAP, Ranges, ReadRanges, Round};
pub use space::Space;
pub use synthetic::{FULL_METADATA, Mixture};
pub use write::{Publication, publish};
