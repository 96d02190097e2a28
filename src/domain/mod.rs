//! Business rules as plain Rust: no HTTP, no SQL. Later issues fill this with the case lifecycle,
//! the working-day calendar, deadlines, masking and statistics.
