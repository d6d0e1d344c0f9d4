//! A direct reader for the three messages on the per-task hot path (Task, TaskResult, ObjectInstruction).
//!
//! Why: the generic `capnp` reader costs ~3,000 instructions per message here (arena dispatch, far-pointer
//! and bounds checks through trait objects, a traversal limiter per access), which was half of the
//! scheduler's user-space instructions per task. These three members are read field by field straight
//! from the single segment every Scaler peer sends.
//!
//! It only ever *accepts* or *declines*: on anything it does not fully understand (several segments,
//! trailing bytes, far pointers, other element sizes, unknown enum values, text without its NUL, more
//! words charged than the segment holds, other union members) it returns `None` and the caller decodes
//! with the `capnp` crate, which produces the value or the error. The contract, checked by the
//! differential tests below and the `message_decode` fuzz target: `decode(x) == Some(m)` implies that the
//! generic decoder returns `Ok(m)` for `x`.
//!
//! Traversal: every region read is charged in words as `capnp`'s read limiter charges it, and the fast
//! path declines above the segment's own size, far below the generic limit (8x the frame plus 4096
//! words), so a pointer-amplification payload always ends in the generic decoder's error.
use super::list::{ArgShape, ArgsRef, DataRef, ScalarRef};
use super::types::*;
use super::view::{HotMessage, ObjectInstructionView, TaskResultView, TaskView};
use bytes::Bytes;
use std::borrow::Cow;

/// Declined: let the generic decoder decide.
struct Decline;

type F<T> = Result<T, Decline>;

#[derive(Clone, Copy)]
struct StructRef {
    /// Word index of the data section.
    data: usize,
    data_words: usize,
    /// Word index of the pointer section.
    ptrs: usize,
    ptr_count: usize,
}

/// A list pointer's target: element count and the word index of the first element (after the tag word
/// for struct lists, whose element size is `step` words).
struct ListRef {
    start: usize,
    count: usize,
    step: usize,
    elem: Option<(usize, usize)>,
}

struct Reader<'a> {
    frame: &'a Bytes,
    /// The segment (`words` words at `base`), read through a plain slice: a `Bytes` is dereferenced
    /// again at every access.
    seg: &'a [u8],
    /// Byte offset of the segment within `frame`.
    base: usize,
    words: usize,
    budget: usize,
}

impl<'a> Reader<'a> {
    fn word(&self, i: usize) -> u64 {
        let o = i * 8;
        u64::from_le_bytes(self.seg[o..o + 8].try_into().expect("8 bytes"))
    }

    /// Charges `n` words read and checks `[start, start + n)` lies in the segment.
    fn region(&mut self, start: usize, n: usize) -> F<()> {
        if start.checked_add(n).is_none_or(|end| end > self.words) {
            return Err(Decline);
        }
        self.budget = self.budget.checked_sub(n).ok_or(Decline)?;
        Ok(())
    }

    fn target(at: usize, p: u64) -> F<usize> {
        pointer_target(at, p).ok_or(Decline)
    }

    fn pointer(&self, s: StructRef, i: usize) -> Option<(usize, u64)> {
        if i >= s.ptr_count {
            return None;
        }
        let at = s.ptrs + i;
        let p = self.word(at);
        (p != 0).then_some((at, p))
    }

    fn strukt(&mut self, at: usize, p: u64) -> F<StructRef> {
        if p & 3 != 0 {
            return Err(Decline);
        }
        let data = Self::target(at, p)?;
        let data_words = ((p >> 32) & 0xffff) as usize;
        let ptr_count = (p >> 48) as usize;
        self.region(data, data_words + ptr_count)?;
        Ok(StructRef {
            data,
            data_words,
            ptrs: data + data_words,
            ptr_count,
        })
    }

    fn struct_field(&mut self, s: StructRef, i: usize) -> F<Option<StructRef>> {
        match self.pointer(s, i) {
            None => Ok(None),
            Some((at, p)) => self.strukt(at, p).map(Some),
        }
    }

    fn u16_field(&self, s: StructRef, byte: usize) -> u16 {
        if byte + 2 > s.data_words * 8 {
            return 0;
        }
        let w = self.word(s.data + byte / 8);
        (w >> ((byte % 8) * 8)) as u16
    }

    fn i64_field(&self, s: StructRef, word: usize) -> i64 {
        if word >= s.data_words {
            return 0;
        }
        self.word(s.data + word) as i64
    }

    /// The list at pointer `at`, of element size code `size` (2 byte, 3 two bytes, 5 eight bytes,
    /// 6 pointer, 7 struct).
    fn list(&mut self, at: usize, p: u64, size: u64) -> F<ListRef> {
        if p & 3 != 1 || (p >> 32) & 7 != size {
            return Err(Decline);
        }
        let start = Self::target(at, p)?;
        let count = (p >> 35) as usize;
        if size != 7 {
            let bits = [0, 1, 8, 16, 32, 64, 64][size as usize];
            self.region(start, (count * bits).div_ceil(64))?;
            return Ok(ListRef {
                start,
                count,
                step: 1,
                elem: None,
            });
        }
        // Inline composite: `count` is the word count; a struct-shaped tag word gives the elements.
        self.region(start, count + 1)?;
        let tag = self.word(start);
        if tag & 3 != 0 {
            return Err(Decline);
        }
        let n = ((tag as u32) >> 2) as usize;
        let (dw, pc) = (((tag >> 32) & 0xffff) as usize, (tag >> 48) as usize);
        let step = dw + pc;
        if n * step > count || (step == 0 && n > 0) {
            return Err(Decline);
        }
        Ok(ListRef {
            start: start + 1,
            count: n,
            step,
            elem: Some((dw, pc)),
        })
    }

    fn list_field(&mut self, s: StructRef, i: usize, size: u64) -> F<Option<ListRef>> {
        match self.pointer(s, i) {
            None => Ok(None),
            Some((at, p)) => self.list(at, p, size).map(Some),
        }
    }

    fn element(l: &ListRef, i: usize) -> StructRef {
        let (data_words, ptr_count) = l.elem.expect("struct list");
        let data = l.start + i * l.step;
        StructRef {
            data,
            data_words,
            ptrs: data + data_words,
            ptr_count,
        }
    }

    /// The bytes of a Data (or, with `text`, a Text without its NUL) pointer at word `at`.
    fn bytes_at(&mut self, at: usize, text: bool) -> F<&'a [u8]> {
        let p = self.word(at);
        if p == 0 {
            return Ok(&[]);
        }
        let l = self.list(at, p, 2)?;
        let from = l.start * 8;
        let mut b = &self.seg[from..from + l.count];
        if text {
            match b.split_last() {
                Some((0, rest)) => b = rest,
                _ => return Err(Decline),
            }
        }
        Ok(b)
    }

    fn data(&mut self, s: StructRef, i: usize) -> F<&'a [u8]> {
        if i >= s.ptr_count {
            return Ok(&[]);
        }
        self.bytes_at(s.ptrs + i, false)
    }

    /// A `List(Data)` checked element by element and handed over where it lies (see `wire::list`).
    fn data_list(&mut self, s: StructRef, i: usize) -> F<DataRef<'a>> {
        let (start, count) = match self.list_field(s, i, 6)? {
            Some(l) => (l.start, l.count),
            None => (0, 0),
        };
        for k in 0..count {
            self.bytes_at(start + k, false)?;
        }
        Ok(DataRef::in_frame(self.frame, self.base, start, count))
    }

    /// A scalar list of element size code `size` (checked by `list`), where it lies.
    fn scalar_list<T: super::list::Scalar>(
        &mut self,
        s: StructRef,
        i: usize,
        size: u64,
    ) -> F<ScalarRef<'a, T>> {
        let (at, count) = match self.list_field(s, i, size)? {
            Some(l) => (self.base + l.start * 8, l.count),
            None => (0, 0),
        };
        Ok(ScalarRef::in_frame(self.frame, at, count))
    }

    fn task(&mut self, t: StructRef) -> F<TaskView<'a>> {
        let mut args = ArgsRef::in_frame(
            self.frame,
            0,
            ArgShape {
                base: self.base,
                start: 0,
                step: 0,
                data_words: 0,
                ptr_count: 0,
            },
        );
        if let Some(l) = self.list_field(t, 4, 7)? {
            for k in 0..l.count {
                let a = Self::element(&l, k);
                if self.u16_field(a, 0) > 1 {
                    return Err(Decline);
                }
                if a.ptr_count > 0 {
                    self.bytes_at(a.ptrs, false)?;
                }
            }
            let (data_words, ptr_count) = l.elem.expect("struct list");
            let shape = ArgShape {
                base: self.base,
                start: l.start,
                step: l.step,
                data_words,
                ptr_count,
            };
            args = ArgsRef::in_frame(self.frame, l.count, shape);
        }
        let mut capabilities = Vec::new();
        if let Some(l) = self.list_field(t, 5, 7)? {
            for k in 0..l.count {
                let c = Self::element(&l, k);
                let name = if c.ptr_count > 0 {
                    String::from_utf8_lossy(self.bytes_at(c.ptrs, true)?).into_owned()
                } else {
                    String::new()
                };
                capabilities.push(Capability {
                    name,
                    value: self.i64_field(c, 0),
                });
            }
        }
        Ok(TaskView {
            task_id: self.data(t, 0)?,
            source: self.data(t, 1)?,
            metadata: self.data(t, 2)?,
            func_object_id: self.data(t, 3)?,
            args,
            capabilities: Cow::Owned(capabilities),
        })
    }

    fn task_result(&mut self, r: StructRef) -> F<TaskResultView<'a>> {
        let result_type = match self.u16_field(r, 0) {
            0 => ResultType::Success,
            1 => ResultType::Failed,
            2 => ResultType::FailedWorkerDied,
            _ => return Err(Decline),
        };
        Ok(TaskResultView {
            task_id: self.data(r, 0)?,
            result_type,
            metadata: self.data(r, 1)?,
            results: self.data_list(r, 2)?,
        })
    }

    fn object_instruction(&mut self, o: StructRef) -> F<ObjectInstructionView<'a>> {
        let kind = match self.u16_field(o, 0) {
            0 => InstructionType::Create,
            1 => InstructionType::Delete,
            2 => InstructionType::Clear,
            _ => return Err(Decline),
        };
        let object_user = self.data(o, 0)?;
        // An absent metadata struct reads as one with no pointers: every list empty.
        let m = self.struct_field(o, 1)?.unwrap_or(StructRef {
            data: 0,
            data_words: 0,
            ptrs: 0,
            ptr_count: 0,
        });
        Ok(ObjectInstructionView {
            kind,
            object_user,
            ids: self.data_list(m, 0)?,
            types: self.scalar_list(m, 1, 3)?,
            names: self.data_list(m, 2)?,
            sizes: self.scalar_list(m, 3, 5)?,
        })
    }
}

/// Target word index of the pointer at word `at` with offset bits of `p` (also how `wire::list` reads
/// the pointers this reader checked).
#[inline]
pub(super) fn pointer_target(at: usize, p: u64) -> Option<usize> {
    let offset = ((p as u32 as i32) >> 2) as isize;
    usize::try_from(at as isize + 1 + offset).ok()
}

/// Decodes `frame` if it is a single-segment Task, TaskResult or ObjectInstruction this reader fully
/// understands; `None` hands it to the generic decoder.
pub fn decode(frame: &Bytes) -> Option<Message> {
    decode_view(frame).map(|m| m.to_message(frame))
}

/// `decode`, read in place: the member's fields are slices of `frame` (see `wire::view`).
pub fn decode_view(frame: &Bytes) -> Option<HotMessage<'_>> {
    if frame.len() < 16 || !frame.len().is_multiple_of(8) {
        return None;
    }
    let head = u64::from_le_bytes(frame[..8].try_into().ok()?);
    let (segments_minus_one, words) = (head as u32, (head >> 32) as usize);
    if segments_minus_one != 0 || words == 0 || 8 + words * 8 != frame.len() {
        return None;
    }
    let mut r = Reader {
        frame,
        seg: &frame[8..],
        base: 8,
        words,
        budget: words,
    };
    let root = r.strukt(0, r.word(0)).ok()?;
    let member = r.struct_field(root, 0).ok()?;
    let empty = StructRef {
        data: 0,
        data_words: 0,
        ptrs: 0,
        ptr_count: 0,
    };
    let m = member.unwrap_or(empty);
    match r.u16_field(root, 0) {
        0 => r.task(m).ok().map(HotMessage::Task),
        3 => r.task_result(m).ok().map(HotMessage::TaskResult),
        6 => r
            .object_instruction(m)
            .ok()
            .map(HotMessage::ObjectInstruction),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
