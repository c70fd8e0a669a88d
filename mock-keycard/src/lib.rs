//! mock-keycard: a faithful offline Keycard zone. Pending.
