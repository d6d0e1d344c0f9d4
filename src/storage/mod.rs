//! Object storage server (placeholder; being written).
