//! An in-memory connection for driving a server session without a socket (feature `sim`):
//! the fuzz harness (`fuzz.rs`) and the session's unit tests serve a [`Duplex`].
//!
//! Invariant: reads return the given input and then end of file; writes never fail and are
//! kept in order, so the session's whole output can be checked afterwards.

use std::io::{self, Read, Write};

/// One side of a connection: reads come from the input, writes are collected.
pub(crate) struct Duplex<'a> {
    pub(crate) input: &'a [u8],
    pub(crate) output: Vec<u8>,
}

impl Read for Duplex<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Duplex<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
