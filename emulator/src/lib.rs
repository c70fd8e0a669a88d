//! emulator: native host for keycard-core. Pending.
