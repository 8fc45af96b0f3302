//! The pickle machine: every opcode of protocols 0–5 (CPython's `pickletools` list),
//! executed symbolically. It builds [`Node`]s in an [`Arena`] and records every global in a
//! [`GlobalTable`]; it never imports or calls anything.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::globals::GlobalTable;
use super::numpy;
use super::policy::Known;
use super::reader::Reader;
use super::text::{self, Integer};
use super::value::{Arena, Blob, BytesKind, CallKind, JoblibData, Node, NodeId, Object};
use crate::result::{Limits, LoadError};

/// Bytes values up to this size are read into memory; larger ones are left in the stream
/// and located by position (tensor data is never copied through the guest when it can be
/// pointed at).
pub const INLINE_MAX: u64 = 4096;

/// Highest pickle protocol.
pub const HIGHEST_PROTOCOL: u8 = 5;

/// Opcodes, named as in `pickletools`.
#[allow(missing_docs)]
pub mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

/// Per-pickle machine state (a fresh one for each pickle in a stream, as CPython does).
struct Frame {
    stack: Vec<NodeId>,
    marks: Vec<usize>,
    memo: BTreeMap<u64, NodeId>,
}

/// The unpickler: one arena and global table shared by every pickle of a file.
pub struct Unpickler {
    /// Everything built.
    pub arena: Arena,
    /// Every global referenced.
    pub globals: GlobalTable,
    /// True once a joblib `NumpyArrayWrapper` had its raw data located.
    pub joblib_arrays: bool,
    /// Highest PROTO seen.
    pub protocol: u8,
    /// Dangerous operations seen that are not globals (BUILD on a global).
    pub violations: Vec<String>,
    limits: Limits,
    nested: u32,
}

/// Most violations recorded.
const MAX_VIOLATIONS: usize = 16;

/// Most nested pickles (joblib object arrays) inside one another.
const MAX_NESTED: u32 = 1;

fn err_at(pos: u64, opcode: u8, e: LoadError) -> LoadError {
    if e.message.starts_with("pickle offset ") || e.message.starts_with("pickle truncated") {
        return e;
    }
    LoadError {
        message: format!("pickle offset {pos} (opcode 0x{opcode:02x}): {}", e.message),
        ..e
    }
}

fn underflow() -> LoadError {
    LoadError::malformed("unpickling stack underflow")
}

impl Unpickler {
    /// A machine bounded by `limits` (`max_depth`, `max_memo`, `max_objects`).
    pub fn new(limits: &Limits) -> Self {
        Unpickler {
            arena: Arena::new(limits.max_objects),
            globals: GlobalTable::new(),
            joblib_arrays: false,
            protocol: 0,
            violations: Vec::new(),
            limits: limits.clone(),
            nested: 0,
        }
    }

    /// Run one pickle from the reader's position to its STOP; returns the root value.
    /// With `joblib` set, a BUILD of a `NumpyArrayWrapper` consumes the raw array bytes
    /// that follow it, as `joblib.load` does.
    pub fn load(&mut self, r: &mut Reader<'_>, joblib: bool) -> Result<NodeId, LoadError> {
        let mut f = Frame {
            stack: Vec::new(),
            marks: Vec::new(),
            memo: BTreeMap::new(),
        };
        loop {
            let pos = r.pos();
            let opcode = r.byte()?;
            match self.step(r, &mut f, opcode, joblib) {
                Ok(Some(root)) => return Ok(root),
                Ok(None) => {}
                Err(e) => return Err(err_at(pos, opcode, e)),
            }
        }
    }

    fn push_node(&mut self, f: &mut Frame, node: Node) -> Result<(), LoadError> {
        let id = self.arena.push(node)?;
        self.push(f, id)
    }

    fn push(&mut self, f: &mut Frame, id: NodeId) -> Result<(), LoadError> {
        if f.stack.len() as u64 >= self.limits.max_objects {
            return Err(LoadError::limit(format!(
                "pickle stack holds more than {} items (limit max_objects)",
                self.limits.max_objects
            )));
        }
        f.stack.push(id);
        Ok(())
    }

    fn base(f: &Frame) -> usize {
        f.marks.last().copied().unwrap_or(0)
    }

    fn pop(f: &mut Frame) -> Result<NodeId, LoadError> {
        if f.stack.len() <= Self::base(f) {
            return Err(underflow());
        }
        f.stack.pop().ok_or_else(underflow)
    }

    fn top(f: &Frame) -> Result<NodeId, LoadError> {
        if f.stack.len() <= Self::base(f) {
            return Err(underflow());
        }
        f.stack.last().copied().ok_or_else(underflow)
    }

    fn pop_mark(f: &mut Frame) -> Result<Vec<NodeId>, LoadError> {
        let m = f
            .marks
            .pop()
            .ok_or_else(|| LoadError::malformed("could not find MARK"))?;
        if m > f.stack.len() {
            return Err(underflow());
        }
        Ok(f.stack.split_off(m))
    }

    fn memo_put(&mut self, f: &mut Frame, idx: u64) -> Result<(), LoadError> {
        let v = Self::top(f)?;
        if !f.memo.contains_key(&idx) && f.memo.len() as u64 >= self.limits.max_memo {
            return Err(LoadError::limit(format!(
                "pickle memo holds more than {} entries (limit max_memo)",
                self.limits.max_memo
            )));
        }
        f.memo.insert(idx, v);
        Ok(())
    }

    fn memo_get(&mut self, f: &mut Frame, idx: u64) -> Result<(), LoadError> {
        let v = *f.memo.get(&idx).ok_or_else(|| {
            LoadError::malformed(format!("memo key {idx} was never stored (GET before PUT)"))
        })?;
        self.push(f, v)
    }

    fn int_node(i: Integer) -> Node {
        match i {
            Integer::Small(v) => Node::Int(v),
            Integer::Big(b) => Node::BigInt(b),
        }
    }

    fn blob(r: &mut Reader<'_>, len: u64, what: &str) -> Result<Blob, LoadError> {
        r.need(len, what)?;
        if len <= INLINE_MAX {
            let pos = r.pos();
            Ok(Blob::Small {
                pos,
                data: Rc::from(r.bytes(len, what)?),
            })
        } else {
            let pos = r.pos();
            r.skip(len, what)?;
            Ok(Blob::Stream { pos, len })
        }
    }

    fn unicode(r: &mut Reader<'_>, len: u64, what: &str) -> Result<Node, LoadError> {
        let raw = r.bytes(len, what)?;
        let s = match String::from_utf8(raw) {
            Ok(s) => s,
            // CPython decodes with 'surrogatepass'; Rust strings cannot hold surrogates.
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Node::Str(Rc::from(s)))
    }

    fn len_u32(r: &mut Reader<'_>, what: &str) -> Result<u64, LoadError> {
        Ok(u64::from(u32::from_le_bytes(r.array::<4>(what)?)))
    }

    fn len_i32(r: &mut Reader<'_>, what: &str) -> Result<u64, LoadError> {
        let v = i32::from_le_bytes(r.array::<4>(what)?);
        u64::try_from(v).map_err(|_| LoadError::malformed(format!("{what} has a negative length")))
    }

    fn len_u64(r: &mut Reader<'_>, what: &str) -> Result<u64, LoadError> {
        Ok(u64::from_le_bytes(r.array::<8>(what)?))
    }

    fn global(&mut self, f: &mut Frame, module: &str, name: &str) -> Result<(), LoadError> {
        let g = self.globals.intern(module, name)?;
        self.push_node(f, Node::Global(g))
    }

    fn line_utf8(r: &mut Reader<'_>, what: &str) -> Result<String, LoadError> {
        let l = r.line(what)?;
        String::from_utf8(l).map_err(|_| LoadError::malformed(format!("{what} is not UTF-8")))
    }

    fn object(
        &mut self,
        f: &mut Frame,
        callable: NodeId,
        args: Option<NodeId>,
        kind: CallKind,
    ) -> Result<(), LoadError> {
        let obj = Object::new(callable, args, kind);
        self.push_node(f, Node::Object(Box::new(obj)))
    }

    fn mutate<T>(
        &mut self,
        target: NodeId,
        op_name: &str,
        apply: impl FnOnce(&mut Node) -> Option<T>,
    ) -> Result<T, LoadError> {
        let node = self
            .arena
            .get_mut(target)
            .ok_or_else(|| LoadError::malformed("dangling node"))?;
        let kind = node.type_name();
        apply(node).ok_or_else(|| LoadError::malformed(format!("{op_name} on a {kind}")))
    }

    fn append(&mut self, target: NodeId, items: Vec<NodeId>) -> Result<(), LoadError> {
        self.mutate(target, "APPEND", |n| match n {
            Node::List(v) => {
                v.extend(items);
                Some(())
            }
            Node::Object(o) => {
                o.list_items.extend(items);
                Some(())
            }
            _ => None,
        })
    }

    fn set_items(&mut self, target: NodeId, items: Vec<NodeId>) -> Result<(), LoadError> {
        if !items.len().is_multiple_of(2) {
            return Err(LoadError::malformed("SETITEMS with an odd number of items"));
        }
        let pairs: Vec<(NodeId, NodeId)> = items.chunks(2).map(|c| (c[0], c[1])).collect();
        self.mutate(target, "SETITEM", |n| match n {
            Node::Dict(v) => {
                v.extend(pairs);
                Some(())
            }
            Node::Object(o) => {
                o.dict_items.extend(pairs);
                Some(())
            }
            _ => None,
        })
    }

    fn add_items(&mut self, target: NodeId, items: Vec<NodeId>) -> Result<(), LoadError> {
        self.mutate(target, "ADDITEMS", |n| match n {
            Node::Set(v) => {
                v.extend(items);
                Some(())
            }
            Node::Object(o) => {
                o.set_items.extend(items);
                Some(())
            }
            _ => None,
        })
    }

    fn build(&mut self, r: &mut Reader<'_>, f: &mut Frame, joblib: bool) -> Result<(), LoadError> {
        let state = Self::pop(f)?;
        let target = Self::top(f)?;
        let target_known = match self.arena.get(target) {
            Node::Global(g) => {
                // Python would set attributes on the module/class/function (monkey-patching
                // it for the rest of the load). Recorded and refused; parsing goes on so
                // every global of the file is reported.
                let name = self
                    .globals
                    .get(*g)
                    .map(|g| g.full_name())
                    .unwrap_or_default();
                let v = format!(
                    "BUILD on the global {name} would overwrite attributes of a module, class \
                     or function"
                );
                if self.violations.len() < MAX_VIOLATIONS && !self.violations.contains(&v) {
                    self.violations.push(v);
                }
                return Ok(());
            }
            Node::Object(o) => numpy::known_of(&self.arena, &self.globals, o.callable),
            other => {
                return Err(LoadError::malformed(format!(
                    "BUILD on a {} (it has no attributes to set)",
                    other.type_name()
                )));
            }
        };
        self.mutate(target, "BUILD", |n| match n {
            Node::Object(o) => {
                o.state = Some(state);
                Some(())
            }
            _ => None,
        })?;
        if joblib && target_known == Some(Known::JoblibArrayWrapper) {
            self.joblib_data(r, target, state)?;
        }
        Ok(())
    }

    /// joblib's `NumpyUnpickler.load_build`: the array bytes follow the BUILD opcode (after
    /// a padding-length byte and that many padding bytes in joblib ≥ 1.2), or, for object
    /// arrays, a nested pickle.
    fn joblib_data(
        &mut self,
        r: &mut Reader<'_>,
        target: NodeId,
        state: NodeId,
    ) -> Result<(), LoadError> {
        let layout = numpy::wrapper_layout(&self.arena, &self.globals, state)?;
        let data = match layout.data_len {
            None => {
                if self.nested >= MAX_NESTED {
                    return Err(LoadError::malformed(
                        "joblib object array nested inside another",
                    ));
                }
                self.nested += 1;
                let root = self.load(r, false);
                self.nested -= 1;
                JoblibData::Nested(root?)
            }
            Some(len) => {
                if layout.padded {
                    let pad = r.byte()?;
                    r.skip(u64::from(pad), "joblib alignment padding")?;
                }
                let pos = r.pos();
                r.skip(len, "joblib array data")?;
                JoblibData::Raw { pos, len }
            }
        };
        self.mutate(target, "BUILD", |n| match n {
            Node::Object(o) => {
                o.joblib = Some(data);
                Some(())
            }
            _ => None,
        })?;
        self.joblib_arrays = true;
        Ok(())
    }

    #[allow(clippy::too_many_lines)]
    fn step(
        &mut self,
        r: &mut Reader<'_>,
        f: &mut Frame,
        opcode: u8,
        joblib: bool,
    ) -> Result<Option<NodeId>, LoadError> {
        match opcode {
            op::PROTO => {
                let v = r.byte()?;
                if v > HIGHEST_PROTOCOL {
                    return Err(LoadError::malformed(format!(
                        "unsupported pickle protocol {v}"
                    )));
                }
                self.protocol = self.protocol.max(v);
            }
            op::FRAME => {
                // Advisory: the bytes are read sequentially either way (joblib writes raw
                // array data outside frames). Only check the length is plausible.
                let n = Self::len_u64(r, "FRAME")?;
                r.need(n, "FRAME")?;
            }
            op::STOP => {
                let v = Self::pop(f)?;
                return Ok(Some(v));
            }
            op::MARK => {
                if f.marks.len() as u64 >= self.limits.max_depth {
                    return Err(LoadError::limit(format!(
                        "pickle nests MARKs deeper than {} (limit max_depth)",
                        self.limits.max_depth
                    )));
                }
                f.marks.push(f.stack.len());
            }
            op::POP => {
                if f.stack.len() > Self::base(f) {
                    f.stack.pop();
                } else {
                    Self::pop_mark(f)?;
                }
            }
            op::POP_MARK => {
                Self::pop_mark(f)?;
            }
            op::DUP => {
                let v = Self::top(f)?;
                self.push(f, v)?;
            }
            // --- scalars
            op::NONE => self.push_node(f, Node::None)?,
            op::NEWTRUE => self.push_node(f, Node::Bool(true))?,
            op::NEWFALSE => self.push_node(f, Node::Bool(false))?,
            op::INT => {
                let l = r.line("INT")?;
                let node = match l.as_slice() {
                    b"00" => Node::Bool(false),
                    b"01" => Node::Bool(true),
                    _ => Self::int_node(text::parse_int(&l, "INT")?),
                };
                self.push_node(f, node)?;
            }
            op::BININT => {
                let v = i32::from_le_bytes(r.array::<4>("BININT")?);
                self.push_node(f, Node::Int(i64::from(v)))?;
            }
            op::BININT1 => {
                let v = r.byte()?;
                self.push_node(f, Node::Int(i64::from(v)))?;
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(r.array::<2>("BININT2")?);
                self.push_node(f, Node::Int(i64::from(v)))?;
            }
            op::LONG => {
                let l = r.line("LONG")?;
                self.push_node(f, Self::int_node(text::parse_long(&l)?))?;
            }
            op::LONG1 => {
                let n = u64::from(r.byte()?);
                let b = r.bytes(n, "LONG1")?;
                self.push_node(f, Self::int_node(text::from_twos_complement(&b)?))?;
            }
            op::LONG4 => {
                let n = Self::len_i32(r, "LONG4")?;
                r.need(n, "LONG4")?;
                if n > (text::MAX_BIGINT_BYTES as u64) + 1 {
                    return Err(LoadError::limit(format!(
                        "LONG4 integer of {n} bytes exceeds the {}-byte limit",
                        text::MAX_BIGINT_BYTES
                    )));
                }
                let b = r.bytes(n, "LONG4")?;
                self.push_node(f, Self::int_node(text::from_twos_complement(&b)?))?;
            }
            op::FLOAT => {
                let l = r.line("FLOAT")?;
                self.push_node(f, Node::Float(text::parse_float(&l)?))?;
            }
            op::BINFLOAT => {
                let v = f64::from_be_bytes(r.array::<8>("BINFLOAT")?);
                self.push_node(f, Node::Float(v))?;
            }
            // --- strings and bytes
            op::STRING => {
                let l = r.line("STRING")?;
                let b = text::decode_string_literal(&l)?;
                self.push_node(f, Node::Bytes(BytesKind::Str2, Blob::Inline(Rc::from(b))))?;
            }
            op::BINSTRING => {
                let n = Self::len_i32(r, "BINSTRING")?;
                let b = Self::blob(r, n, "BINSTRING")?;
                self.push_node(f, Node::Bytes(BytesKind::Str2, b))?;
            }
            op::SHORT_BINSTRING => {
                let n = u64::from(r.byte()?);
                let b = Self::blob(r, n, "SHORT_BINSTRING")?;
                self.push_node(f, Node::Bytes(BytesKind::Str2, b))?;
            }
            op::BINBYTES => {
                let n = Self::len_u32(r, "BINBYTES")?;
                let b = Self::blob(r, n, "BINBYTES")?;
                self.push_node(f, Node::Bytes(BytesKind::Bytes, b))?;
            }
            op::SHORT_BINBYTES => {
                let n = u64::from(r.byte()?);
                let b = Self::blob(r, n, "SHORT_BINBYTES")?;
                self.push_node(f, Node::Bytes(BytesKind::Bytes, b))?;
            }
            op::BINBYTES8 => {
                let n = Self::len_u64(r, "BINBYTES8")?;
                let b = Self::blob(r, n, "BINBYTES8")?;
                self.push_node(f, Node::Bytes(BytesKind::Bytes, b))?;
            }
            op::BYTEARRAY8 => {
                let n = Self::len_u64(r, "BYTEARRAY8")?;
                let b = Self::blob(r, n, "BYTEARRAY8")?;
                self.push_node(f, Node::Bytes(BytesKind::ByteArray, b))?;
            }
            op::UNICODE => {
                let l = r.line("UNICODE")?;
                let s = text::decode_raw_unicode_escape(&l)?;
                self.push_node(f, Node::Str(Rc::from(s)))?;
            }
            op::BINUNICODE => {
                let n = Self::len_u32(r, "BINUNICODE")?;
                let node = Self::unicode(r, n, "BINUNICODE")?;
                self.push_node(f, node)?;
            }
            op::SHORT_BINUNICODE => {
                let n = u64::from(r.byte()?);
                let node = Self::unicode(r, n, "SHORT_BINUNICODE")?;
                self.push_node(f, node)?;
            }
            op::BINUNICODE8 => {
                let n = Self::len_u64(r, "BINUNICODE8")?;
                let node = Self::unicode(r, n, "BINUNICODE8")?;
                self.push_node(f, node)?;
            }
            op::NEXT_BUFFER | op::READONLY_BUFFER => {
                return Err(LoadError::unsupported(
                    "pickle uses out-of-band buffers (protocol 5 NEXT_BUFFER/READONLY_BUFFER), \
                     whose data is not in the file",
                ));
            }
            // --- containers
            op::EMPTY_TUPLE => self.push_node(f, Node::Tuple(Vec::new()))?,
            op::EMPTY_LIST => self.push_node(f, Node::List(Vec::new()))?,
            op::EMPTY_DICT => self.push_node(f, Node::Dict(Vec::new()))?,
            op::EMPTY_SET => self.push_node(f, Node::Set(Vec::new()))?,
            op::TUPLE => {
                let items = Self::pop_mark(f)?;
                self.push_node(f, Node::Tuple(items))?;
            }
            op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                let n = usize::from(opcode - op::TUPLE1 + 1);
                if f.stack.len() < Self::base(f) + n {
                    return Err(underflow());
                }
                let items = f.stack.split_off(f.stack.len() - n);
                self.push_node(f, Node::Tuple(items))?;
            }
            op::LIST => {
                let items = Self::pop_mark(f)?;
                self.push_node(f, Node::List(items))?;
            }
            op::DICT => {
                let items = Self::pop_mark(f)?;
                if items.len() % 2 != 0 {
                    return Err(LoadError::malformed("DICT with an odd number of items"));
                }
                let pairs = items.chunks(2).map(|c| (c[0], c[1])).collect();
                self.push_node(f, Node::Dict(pairs))?;
            }
            op::FROZENSET => {
                let items = Self::pop_mark(f)?;
                self.push_node(f, Node::FrozenSet(items))?;
            }
            op::APPEND => {
                let v = Self::pop(f)?;
                let target = Self::top(f)?;
                self.append(target, vec![v])?;
            }
            op::APPENDS => {
                let items = Self::pop_mark(f)?;
                let target = Self::top(f)?;
                self.append(target, items)?;
            }
            op::SETITEM => {
                let v = Self::pop(f)?;
                let k = Self::pop(f)?;
                let target = Self::top(f)?;
                self.set_items(target, vec![k, v])?;
            }
            op::SETITEMS => {
                let items = Self::pop_mark(f)?;
                let target = Self::top(f)?;
                self.set_items(target, items)?;
            }
            op::ADDITEMS => {
                let items = Self::pop_mark(f)?;
                let target = Self::top(f)?;
                self.add_items(target, items)?;
            }
            // --- memo
            op::PUT => {
                let l = r.line("PUT")?;
                let idx = text::parse_index(&l, "PUT")?;
                self.memo_put(f, idx)?;
            }
            op::BINPUT => {
                let idx = u64::from(r.byte()?);
                self.memo_put(f, idx)?;
            }
            op::LONG_BINPUT => {
                let idx = Self::len_u32(r, "LONG_BINPUT")?;
                self.memo_put(f, idx)?;
            }
            op::MEMOIZE => {
                let idx = f.memo.len() as u64;
                self.memo_put(f, idx)?;
            }
            op::GET => {
                let l = r.line("GET")?;
                let idx = text::parse_index(&l, "GET")?;
                self.memo_get(f, idx)?;
            }
            op::BINGET => {
                let idx = u64::from(r.byte()?);
                self.memo_get(f, idx)?;
            }
            op::LONG_BINGET => {
                let idx = Self::len_u32(r, "LONG_BINGET")?;
                self.memo_get(f, idx)?;
            }
            // --- globals and calls
            op::GLOBAL => {
                let module = Self::line_utf8(r, "GLOBAL module")?;
                let name = Self::line_utf8(r, "GLOBAL name")?;
                self.global(f, &module, &name)?;
            }
            op::STACK_GLOBAL => {
                let name = Self::pop(f)?;
                let module = Self::pop(f)?;
                // Python 3 decodes protocol-0/1 strings (STRING, BINSTRING) to `str`, so
                // those count as str operands too.
                let (Some(m), Some(n)) = (self.arena.as_str(module), self.arena.as_str(name))
                else {
                    return Err(LoadError::malformed("STACK_GLOBAL requires str operands"));
                };
                let (m, n) = (m.to_string(), n.to_string());
                self.global(f, &m, &n)?;
            }
            op::EXT1 | op::EXT2 | op::EXT4 => {
                let code = match opcode {
                    op::EXT1 => u32::from(r.byte()?),
                    op::EXT2 => u32::from(u16::from_le_bytes(r.array::<2>("EXT2")?)),
                    _ => {
                        let v = i32::from_le_bytes(r.array::<4>("EXT4")?);
                        u32::try_from(v)
                            .map_err(|_| LoadError::malformed("negative extension code"))?
                    }
                };
                if code == 0 {
                    return Err(LoadError::malformed("extension code 0 is invalid"));
                }
                let g = self.globals.intern_extension(code)?;
                self.push_node(f, Node::Global(g))?;
            }
            op::REDUCE => {
                let args = Self::pop(f)?;
                let callable = Self::pop(f)?;
                self.object(f, callable, Some(args), CallKind::Reduce)?;
            }
            op::NEWOBJ => {
                let args = Self::pop(f)?;
                let cls = Self::pop(f)?;
                self.object(f, cls, Some(args), CallKind::NewObj)?;
            }
            op::NEWOBJ_EX => {
                let kwargs = Self::pop(f)?;
                let args = Self::pop(f)?;
                let cls = Self::pop(f)?;
                let mut obj = Object::new(cls, Some(args), CallKind::NewObjEx);
                obj.kwargs = Some(kwargs);
                self.push_node(f, Node::Object(Box::new(obj)))?;
            }
            op::INST => {
                let module = Self::line_utf8(r, "INST module")?;
                let name = Self::line_utf8(r, "INST name")?;
                let items = Self::pop_mark(f)?;
                let g = self.globals.intern(&module, &name)?;
                let cls = self.arena.push(Node::Global(g))?;
                let args = self.arena.push(Node::Tuple(items))?;
                self.object(f, cls, Some(args), CallKind::Inst)?;
            }
            op::OBJ => {
                let mut items = Self::pop_mark(f)?;
                if items.is_empty() {
                    return Err(underflow());
                }
                let cls = items.remove(0);
                let args = self.arena.push(Node::Tuple(items))?;
                self.object(f, cls, Some(args), CallKind::Obj)?;
            }
            op::BUILD => self.build(r, f, joblib)?,
            op::PERSID => {
                let l = r.line("PERSID")?;
                if !l.is_ascii() {
                    return Err(LoadError::malformed(
                        "persistent IDs in protocol 0 must be ASCII strings",
                    ));
                }
                let s = String::from_utf8_lossy(&l).into_owned();
                let pid = self.arena.push(Node::Str(Rc::from(s)))?;
                self.push_node(f, Node::PersId(pid))?;
            }
            op::BINPERSID => {
                let pid = Self::pop(f)?;
                self.push_node(f, Node::PersId(pid))?;
            }
            other => {
                return Err(LoadError::malformed(format!(
                    "invalid pickle opcode 0x{other:02x}"
                )));
            }
        }
        Ok(None)
    }
}
