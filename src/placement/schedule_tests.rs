//! schedule tests.
