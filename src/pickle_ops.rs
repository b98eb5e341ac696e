//! Walking a Python pickle's opcodes without decoding it: the opcode reader `pickle.rs` uses
//! to find objects of Python classes, and [`too_deep`], the nesting check that runs before
//! `serde-pickle` sees any bytes (on save of `pickle` bytes and on every decode), since
//! `serde-pickle` recurses once per level while resolving and dropping what it built: a
//! pickle nested 10^5 levels would overflow the stack before any check on the result.
//!
//! Invariants: nothing here recurses, so both hold on a small stack whatever the input;
//! [`too_deep`] is exact for lists, tuples, dicts and sets however they are built (marks,
//! `APPEND`s, memo references, mutation after sharing: depth is tracked per object and raised
//! through every container holding it; a container holding itself counts as too deep); for
//! objects of Python classes (`REDUCE`, `BUILD`, `NEWOBJ`…) it may count a level more than
//! the decoded value has, never fewer. A stream it cannot follow (truncated, an unknown
//! opcode, a stack underflow) is left to `serde-pickle` to report, which then has built at
//! most `limit` levels.

use std::collections::HashMap;

/// The opcodes whose stack effect [`too_deep`] follows (names as in Python's `pickletools`).
mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const MEMOIZE: u8 = 0x94;
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const LONG_BINGET: u8 = b'j';
    pub const EMPTY_LIST: u8 = b']';
    pub const EMPTY_DICT: u8 = b'}';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const EMPTY_SET: u8 = 0x8f;
    pub const LIST: u8 = b'l';
    pub const TUPLE: u8 = b't';
    pub const DICT: u8 = b'd';
    pub const FROZENSET: u8 = 0x91;
    pub const INST: u8 = b'i';
    pub const OBJ: u8 = b'o';
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE3: u8 = 0x87;
    pub const APPEND: u8 = b'a';
    pub const APPENDS: u8 = b'e';
    pub const SETITEM: u8 = b's';
    pub const SETITEMS: u8 = b'u';
    pub const ADDITEMS: u8 = 0x90;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const REDUCE: u8 = b'R';
    pub const BUILD: u8 = b'b';
    pub const NEWOBJ: u8 = 0x81;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const BINPERSID: u8 = b'Q';
}

/// One opcode and its argument: the bytes after it (for `GLOBAL` and `INST`, the two lines
/// `module\nname`; for newline-terminated arguments, without the newline; for
/// length-prefixed ones, without the length).
pub(crate) struct Op<'a> {
    pub(crate) code: u8,
    pub(crate) arg: &'a [u8],
}

/// The opcodes of a pickle up to `STOP` (included); ends early, without error, at an
/// argument cut short.
pub(crate) struct Ops<'a> {
    bytes: &'a [u8],
    pos: usize,
    stopped: bool,
}

impl<'a> Ops<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Ops {
            bytes,
            pos: 0,
            stopped: false,
        }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let arg = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(arg)
    }

    fn line(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.pos..)?;
        let end = rest.iter().position(|b| *b == b'\n')?;
        self.pos += end + 1;
        Some(&rest[..end])
    }

    fn length_prefixed(&mut self, width: usize) -> Option<&'a [u8]> {
        let mut le = [0u8; 8];
        le.get_mut(..width)?.copy_from_slice(self.take(width)?);
        let n = usize::try_from(u64::from_le_bytes(le)).ok()?;
        self.take(n)
    }
}

impl<'a> Iterator for Ops<'a> {
    type Item = Op<'a>;

    fn next(&mut self) -> Option<Op<'a>> {
        if self.stopped {
            return None;
        }
        let code = *self.bytes.get(self.pos)?;
        self.pos += 1;
        let arg = match code {
            b'.' => {
                self.stopped = true;
                &[]
            }
            // Two lines: module and name.
            b'c' | b'i' => {
                let start = self.pos;
                self.line()?;
                self.line()?;
                &self.bytes[start..self.pos - 1]
            }
            b'I' | b'L' | b'F' | b'S' | b'V' | b'g' | b'p' | b'P' => self.line()?,
            b'K' | b'h' | b'q' | 0x80 => self.take(1)?,
            b'M' => self.take(2)?,
            b'J' | b'j' | b'r' => self.take(4)?,
            b'G' | 0x95 => self.take(8)?,
            b'U' | b'C' | 0x8c | 0x8a => self.length_prefixed(1)?,
            b'T' | b'B' | b'X' | 0x8b => self.length_prefixed(4)?,
            0x8d | 0x8e | 0x96 => self.length_prefixed(8)?,
            _ => &[],
        };
        Some(Op { code, arg })
    }
}

/// An object the pickle builds, as [`too_deep`] follows it.
struct Node {
    /// How deep it nests: 0 for a scalar, 1 for an empty container.
    depth: usize,
    /// The first container holding it ([`NOBODY`] if none); the others, rare (an object
    /// shared through the memo), are in [`Machine::more_holders`]. Whoever holds it follows
    /// its depth.
    holder: usize,
}

/// No holder.
const NOBODY: usize = usize::MAX;

/// Where a stream stops making sense to follow (left to the decoder to report).
struct Lost;

/// Follows the pickle machine's stack and memo over node ids.
struct Machine {
    /// One per container built, 16 bytes each: each container costs the pickle at least one
    /// opcode byte, so the walk needs at most 16 bytes per pickle byte (plenty less for real
    /// data, whose containers hold items).
    nodes: Vec<Node>,
    more_holders: HashMap<usize, Vec<usize>>,
    /// `None` is a mark.
    stack: Vec<Option<usize>>,
    memo: HashMap<u64, usize>,
    limit: usize,
}

/// Id of the one node every scalar shares (a scalar is never mutated).
const SCALAR: usize = 0;

impl Machine {
    fn push_new(&mut self, depth: usize) -> usize {
        self.nodes.push(Node {
            depth,
            holder: NOBODY,
        });
        let id = self.nodes.len() - 1;
        self.stack.push(Some(id));
        id
    }

    fn pop(&mut self) -> Result<usize, Lost> {
        self.stack.pop().flatten().ok_or(Lost)
    }

    fn top(&self) -> Result<usize, Lost> {
        self.stack.last().copied().flatten().ok_or(Lost)
    }

    /// The items above the topmost mark, removing them and the mark.
    fn pop_mark(&mut self) -> Result<Vec<usize>, Lost> {
        let mark = self.stack.iter().rposition(Option::is_none).ok_or(Lost)?;
        let items = self.stack.drain(mark..).flatten().collect();
        Ok(items)
    }

    /// Puts `child` into `holder`, raising the depth of `holder` and of what holds it.
    fn hold(&mut self, holder: usize, child: usize) -> Result<(), Stop> {
        if child != SCALAR {
            match self.nodes[child].holder {
                NOBODY => self.nodes[child].holder = holder,
                _ => self.more_holders.entry(child).or_default().push(holder),
            }
        }
        let mut raise = vec![(holder, self.nodes[child].depth + 1)];
        // Each step raises a depth that is at most `limit + 1`, so this ends.
        while let Some((id, depth)) = raise.pop() {
            if id == SCALAR || self.nodes[id].depth >= depth {
                continue;
            }
            if depth > self.limit {
                return Err(Stop::TooDeep);
            }
            self.nodes[id].depth = depth;
            let first = Some(self.nodes[id].holder).filter(|&h| h != NOBODY);
            let more = self.more_holders.get(&id).into_iter().flatten().copied();
            raise.extend(first.into_iter().chain(more).map(|h| (h, depth + 1)));
        }
        Ok(())
    }

    /// A new container holding `children`, pushed.
    fn build(&mut self, children: Vec<usize>) -> Result<(), Stop> {
        let id = self.push_new(1);
        children.into_iter().try_for_each(|c| self.hold(id, c))
    }

    fn memo_key(&self, code: u8, arg: &[u8]) -> Result<u64, Lost> {
        Ok(match code {
            op::MEMOIZE => self.memo.len() as u64,
            op::PUT | op::GET => std::str::from_utf8(arg)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or(Lost)?,
            _ => {
                let mut le = [0u8; 8];
                le.get_mut(..arg.len()).ok_or(Lost)?.copy_from_slice(arg);
                u64::from_le_bytes(le)
            }
        })
    }

    /// Follows one opcode.
    fn step(&mut self, code: u8, arg: &[u8]) -> Result<(), Stop> {
        use op::*;
        match code {
            MARK => self.stack.push(None),
            POP => {
                self.stack.pop().ok_or(Stop::Lost)?;
            }
            POP_MARK => {
                self.pop_mark()?;
            }
            DUP => {
                let top = self.top()?;
                self.stack.push(Some(top));
            }
            PUT | BINPUT | LONG_BINPUT | MEMOIZE => {
                let key = self.memo_key(code, arg)?;
                let top = self.top()?;
                self.memo.insert(key, top);
            }
            GET | BINGET | LONG_BINGET => {
                let key = self.memo_key(code, arg)?;
                let id = *self.memo.get(&key).ok_or(Stop::Lost)?;
                self.stack.push(Some(id));
            }
            EMPTY_LIST | EMPTY_DICT | EMPTY_TUPLE | EMPTY_SET => {
                self.push_new(1);
            }
            LIST | TUPLE | DICT | FROZENSET | INST => {
                let items = self.pop_mark()?;
                self.build(items)?;
            }
            OBJ => {
                let items = self.pop_mark()?;
                self.pop()?;
                self.build(items)?;
            }
            TUPLE1..=TUPLE3 => {
                let n = usize::from(code - TUPLE1) + 1;
                let at = self.stack.len().checked_sub(n).ok_or(Stop::Lost)?;
                let items = self.stack.split_off(at);
                let items = items
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .ok_or(Stop::Lost)?;
                self.build(items)?;
            }
            APPEND => {
                let item = self.pop()?;
                let holder = self.top()?;
                self.hold(holder, item)?;
            }
            SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                let holder = self.top()?;
                self.hold(holder, key)?;
                self.hold(holder, value)?;
            }
            APPENDS | SETITEMS | ADDITEMS => {
                let items = self.pop_mark()?;
                let holder = self.top()?;
                items
                    .into_iter()
                    .try_for_each(|item| self.hold(holder, item))?;
            }
            // Objects: the result stands for its arguments (a level more than serde-pickle's
            // reading of `set([...])`, never fewer).
            REDUCE | NEWOBJ => {
                let args = self.pop()?;
                self.pop()?;
                self.stack.push(Some(args));
            }
            NEWOBJ_EX => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                self.pop()?;
                self.build(vec![args, kwargs])?;
            }
            BUILD => {
                let state = self.pop()?;
                self.pop()?;
                self.stack.push(Some(state));
            }
            STACK_GLOBAL | BINPERSID => {
                self.pop()?;
                if code == STACK_GLOBAL {
                    self.pop()?;
                }
                self.stack.push(Some(SCALAR));
            }
            // No stack effect: PROTO, FRAME, READONLY_BUFFER.
            0x80 | 0x95 | 0x98 => {}
            // Everything else that serde-pickle reads pushes one scalar (numbers, strings,
            // bytes, None, booleans, GLOBAL, PERSID, EXT1-4, NEXT_BUFFER).
            b'I'
            | b'J'
            | b'K'
            | b'M'
            | b'L'
            | 0x8a
            | 0x8b
            | b'S'
            | b'T'
            | b'U'
            | b'B'
            | b'C'
            | 0x8e
            | 0x96
            | b'V'
            | b'X'
            | 0x8c
            | 0x8d
            | b'N'
            | 0x88
            | 0x89
            | b'F'
            | b'G'
            | b'P'
            | b'c'
            | 0x82..=0x84
            | 0x97 => self.stack.push(Some(SCALAR)),
            _ => return Err(Stop::Lost),
        }
        Ok(())
    }
}

/// Why [`Machine::step`] stopped following the stream.
enum Stop {
    Lost,
    TooDeep,
}

impl From<Lost> for Stop {
    fn from(_: Lost) -> Self {
        Stop::Lost
    }
}

/// Whether the value a pickle builds nests lists, tuples, dicts and sets deeper than `limit`
/// levels (see the module docs for what is exact).
pub(crate) fn too_deep(bytes: &[u8], limit: usize) -> bool {
    let mut machine = Machine {
        nodes: vec![Node {
            depth: 0,
            holder: NOBODY,
        }],
        more_holders: HashMap::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
        limit,
    };
    for Op { code, arg } in Ops::new(bytes) {
        if code == op::STOP {
            return false;
        }
        match machine.step(code, arg) {
            Ok(()) => {}
            Err(Stop::TooDeep) => return true,
            Err(Stop::Lost) => return false,
        }
    }
    false
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::limits::MAX_DEPTH;

    /// Protocol 2, no marks: one `EMPTY_LIST` per level, then one `APPEND` per level.
    pub(crate) fn appended(levels: usize) -> Vec<u8> {
        let mut bytes = vec![0x80, 2];
        bytes.extend(std::iter::repeat_n(b']', levels));
        bytes.extend(std::iter::repeat_n(b'a', levels - 1));
        bytes.push(b'.');
        bytes
    }

    /// Protocol 0 as Python writes `[[...[]...]]`: `(lp0\n(lp1\n...` then `a` per level.
    fn marked(levels: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for i in 0..levels {
            bytes.extend(format!("(lp{i}\n").into_bytes());
        }
        bytes.extend(std::iter::repeat_n(b'a', levels - 1));
        bytes.push(b'.');
        bytes
    }

    /// Tuples of one (`TUPLE1`) around `None`, dicts of one key around them alternately.
    fn tuples_and_dicts(levels: usize) -> Vec<u8> {
        let mut bytes = vec![0x80, 4, b'N'];
        for i in 0..levels {
            if i % 2 == 0 {
                bytes.push(0x85);
            } else {
                // {'k': top}: EMPTY_DICT, then swap order by memo: put top, pop, dict, key,
                // get, SETITEM.
                bytes.extend([b'q', 0, b'0', b'}', 0x8c, 1, b'k', b'h', 0, b's']);
            }
        }
        bytes.push(b'.');
        bytes
    }

    /// Depth through the memo with at most two stack slots: each level is a new list that
    /// gets the previous one from the memo, then is memoized under a key of its own.
    fn through_the_memo(levels: usize) -> Vec<u8> {
        let mut bytes = vec![0x80, 2, b']', b'r', 0, 0, 0, 0];
        for level in 1..levels as u32 {
            bytes.extend([b'0', b']', b'j']);
            bytes.extend((level - 1).to_le_bytes());
            bytes.extend([b'a', b'r']);
            bytes.extend(level.to_le_bytes());
        }
        bytes.push(b'.');
        bytes
    }

    /// An outer list gets an inner one, which is filled only afterwards (through the memo):
    /// the outer's depth must follow.
    fn filled_after_sharing(levels: usize) -> Vec<u8> {
        // outer = [inner]; memo 1 = inner
        let mut bytes = vec![0x80, 2, b']', b']', b'q', 1, b'a'];
        // inner.append(deep), deep being `levels - 2` nested empty lists.
        bytes.extend([b'h', 1]);
        bytes.extend(
            appended(levels - 2)
                .into_iter()
                .skip(2)
                .take(2 * (levels - 2) - 1),
        );
        bytes.extend([b'a', b'0', b'.']);
        bytes
    }

    /// A list held by two others gets deeper afterwards: the second holder (and the list
    /// holding it) must follow too.
    fn second_holder_follows(levels: usize) -> Vec<u8> {
        let k = levels - 3;
        // inner, memo 0; first = [inner], memo 1; second = [inner], memo 2.
        let mut bytes = vec![0x80, 2, b']', b'q', 0, b'0'];
        for key in [1, 2] {
            bytes.extend([b']', b'h', 0, b'a', b'q', key, b'0']);
        }
        // inner.append(k nested lists)
        bytes.extend([b'h', 0]);
        bytes.extend(appended(k).into_iter().skip(2).take(2 * k - 1));
        bytes.extend([b'a', b'0']);
        // [second]
        bytes.extend([b']', b'h', 2, b'a', b'.']);
        bytes
    }

    #[test]
    fn every_construction_counts_exactly() {
        for build in [
            appended,
            marked,
            tuples_and_dicts,
            through_the_memo,
            filled_after_sharing,
            second_holder_follows,
        ] {
            let bytes = build(MAX_DEPTH);
            assert!(!too_deep(&bytes, MAX_DEPTH));
            assert!(too_deep(&bytes, MAX_DEPTH - 1));
            assert!(too_deep(&build(MAX_DEPTH + 1), MAX_DEPTH));
        }
    }

    #[test]
    fn the_count_agrees_with_serde_pickle_at_the_limit() -> Result<(), String> {
        for build in [appended, marked, through_the_memo] {
            let value: serde_json::Value =
                serde_pickle::from_slice(&build(MAX_DEPTH), serde_pickle::DeOptions::new())
                    .map_err(|e| e.to_string())?;
            let depth_ok = crate::limits::value_too_deep(&value, MAX_DEPTH).is_none();
            let deeper_by_one = crate::limits::value_too_deep(&value, MAX_DEPTH - 1).is_some();
            assert!(depth_ok && deeper_by_one, "{value}");
        }
        Ok(())
    }

    #[test]
    fn a_list_holding_itself_is_too_deep() {
        // l = []; l.append(l)
        assert!(too_deep(
            &[0x80, 2, b']', b'q', 0, b'h', 0, b'a', b'.'],
            MAX_DEPTH
        ));
    }

    #[test]
    fn a_stream_it_cannot_follow_is_left_to_the_decoder() {
        for bytes in [&b"a."[..], b"\xff.", b"]h\x07.", b"", b"]"] {
            assert!(!too_deep(bytes, MAX_DEPTH), "{bytes:?}");
        }
    }
}
