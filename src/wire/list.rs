//! Lists of a decoded message, read where they lie in the received frame.
//!
//! Why: building a `Vec` for each list cost an allocation, and a reference-count increment per
//! element, for every TaskResult (its results) and ObjectInstruction (ids, types, names and sizes:
//! four `Vec`s) — most of the allocations the scheduler made per task (callgrind, BENCHMARKS.md
//! "Session 6"). The fast reader (`fast`) checks every element of a list when it accepts a message, then
//! hands the list over as its place in the frame; the generic decoder, tests and the scheduler's own
//! messages build lists in memory. Both read the same through `len`, `get` and `iter`.
use super::types::TaskArg;
use bytes::Bytes;
use std::fmt;

/// What every list has: its length; built in memory from a `Vec` or an iterator, empty by default,
/// equal to another when their elements are (wherever each list's elements lie).
macro_rules! owned_list {
    ($list:ident $(<$t:ident: $bound:ident>)?, $repr:ident, $item:ty) => {
        impl$(<$t: $bound>)? $list$(<$t>)? {
            pub fn len(&self) -> usize {
                match &self.0 {
                    $repr::Owned(v) => v.len(),
                    $repr::InFrame { count, .. } => *count,
                }
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }

        impl$(<$t: $bound>)? From<Vec<$item>> for $list$(<$t>)? {
            fn from(v: Vec<$item>) -> Self {
                $list($repr::Owned(v))
            }
        }

        impl$(<$t: $bound>)? FromIterator<$item> for $list$(<$t>)? {
            fn from_iter<I: IntoIterator<Item = $item>>(items: I) -> Self {
                $list($repr::Owned(items.into_iter().collect()))
            }
        }

        impl$(<$t: $bound>)? Default for $list$(<$t>)? {
            fn default() -> Self {
                $list($repr::Owned(Vec::new()))
            }
        }

        impl$(<$t: $bound>)? PartialEq for $list$(<$t>)? {
            fn eq(&self, other: &Self) -> bool {
                self.iter().eq(other.iter())
            }
        }

        impl$(<$t: $bound>)? Eq for $list$(<$t>)? {}
    };
}

owned_list!(DataList, DataRepr, Bytes);
owned_list!(ScalarList<T: Scalar>, ScalarRepr, T);
owned_list!(ArgList, ArgRepr, TaskArg);

/// A `List(Data)`.
#[derive(Clone)]
pub struct DataList(DataRepr);

#[derive(Clone)]
enum DataRepr {
    Owned(Vec<Bytes>),
    /// `count` list pointers from word `start` of the segment at byte `base` of `frame`; the fast
    /// reader checked that each is null or a byte list inside the segment.
    InFrame {
        frame: Bytes,
        base: usize,
        start: usize,
        count: usize,
    },
}

impl DataList {
    /// A list the fast reader checked element by element (see `DataRepr::InFrame`).
    pub(crate) fn in_frame(frame: &Bytes, base: usize, start: usize, count: usize) -> DataList {
        DataList(DataRepr::InFrame {
            frame: frame.clone(),
            base,
            start,
            count,
        })
    }

    /// The list as its borrowed form, which does all the reading.
    pub fn view(&self) -> DataRef<'_> {
        DataRef(match &self.0 {
            DataRepr::Owned(v) => DataRefRepr::Owned(v),
            DataRepr::InFrame {
                frame,
                base,
                start,
                count,
            } => DataRefRepr::InFrame {
                frame,
                base: *base,
                start: *start,
                count: *count,
            },
        })
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.view().get(i)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.view().iter()
    }

    /// Each element in an allocation of its own, so that keeping them does not keep the frame.
    pub fn to_owned_vec(&self) -> Vec<Bytes> {
        self.view().to_owned_vec()
    }
}

/// The bytes the list pointer at `word` of the segment points at. The fast reader checked the
/// pointer before handing the list over, so the fallbacks below are never taken; they keep a broken
/// invariant from ending the process.
fn element(frame: &[u8], base: usize, word: usize) -> &[u8] {
    let at = base + word * 8;
    let Some(p) = frame.get(at..at + 8) else {
        debug_assert!(false, "list pointer outside the frame");
        return &[];
    };
    let p = u64::from_le_bytes(p.try_into().expect("8 bytes"));
    if p == 0 {
        return &[];
    }
    let len = (p >> 35) as usize;
    let bytes = super::fast::pointer_target(word, p)
        .and_then(|t| frame.get(base + t * 8..base + t * 8 + len));
    debug_assert!(bytes.is_some(), "checked byte list outside the frame");
    bytes.unwrap_or_default()
}

impl fmt::Debug for DataList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(Bytes::copy_from_slice))
            .finish()
    }
}

/// A fixed-width little-endian element of a scalar list.
pub trait Scalar: Copy + PartialEq + fmt::Debug {
    const SIZE: usize;
    fn read(b: &[u8]) -> Self;
}

impl Scalar for u16 {
    const SIZE: usize = 2;
    fn read(b: &[u8]) -> u16 {
        u16::from_le_bytes([b[0], b[1]])
    }
}

impl Scalar for u64 {
    const SIZE: usize = 8;
    fn read(b: &[u8]) -> u64 {
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    }
}

/// A `List(UInt16)` (or of an enum) or `List(UInt64)`.
#[derive(Clone)]
pub struct ScalarList<T: Scalar>(ScalarRepr<T>);

#[derive(Clone)]
enum ScalarRepr<T> {
    Owned(Vec<T>),
    /// `count` elements from byte `at` of `frame`, inside the segment (checked by the fast reader).
    InFrame {
        frame: Bytes,
        at: usize,
        count: usize,
    },
}

impl<T: Scalar> ScalarList<T> {
    pub(crate) fn in_frame(frame: &Bytes, at: usize, count: usize) -> ScalarList<T> {
        debug_assert!(at + count * T::SIZE <= frame.len());
        ScalarList(ScalarRepr::InFrame {
            frame: frame.clone(),
            at,
            count,
        })
    }

    /// The list as its borrowed form, which does all the reading.
    pub fn view(&self) -> ScalarRef<'_, T> {
        ScalarRef(match &self.0 {
            ScalarRepr::Owned(v) => ScalarRefRepr::Owned(v),
            ScalarRepr::InFrame { frame, at, count } => ScalarRefRepr::InFrame {
                frame,
                at: *at,
                count: *count,
            },
        })
    }

    pub fn get(&self, i: usize) -> Option<T> {
        self.view().get(i)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + '_ {
        // `get` is `None` only past the end (or for a list the fast reader should have refused).
        (0..self.len()).map(move |i| self.get(i).unwrap_or(T::read(&[0; 8])))
    }
}

impl<T: Scalar> fmt::Debug for ScalarList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A Task's `List(Argument)`.
#[derive(Clone)]
pub struct ArgList(ArgRepr);

#[derive(Clone)]
enum ArgRepr {
    Owned(Vec<TaskArg>),
    /// `count` elements laid out as `shape` says; the fast reader checked each element's type and its
    /// data pointer.
    InFrame {
        frame: Bytes,
        count: usize,
        shape: ArgShape,
    },
}

/// Where a list of `Argument` structs lies in a frame: from word `start` of the segment at byte `base`,
/// one struct every `step` words, each a data section of `data_words` and then its pointers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArgShape {
    pub base: usize,
    pub start: usize,
    pub step: usize,
    pub data_words: usize,
    pub ptr_count: usize,
}

impl ArgList {
    pub(crate) fn in_frame(frame: &Bytes, count: usize, shape: ArgShape) -> ArgList {
        ArgList(ArgRepr::InFrame {
            frame: frame.clone(),
            count,
            shape,
        })
    }

    /// The argument at `i`; its data is a slice of the frame (as every decoded field is).
    pub fn get(&self, i: usize) -> Option<TaskArg> {
        match &self.0 {
            ArgRepr::Owned(v) => v.get(i).cloned(),
            ArgRepr::InFrame {
                frame,
                count,
                shape: a,
            } => {
                if i >= *count {
                    return None;
                }
                let data = a.start + i * a.step;
                // The type enum is the first u16 of the data section: 0 = task, 1 = object id.
                let at = a.base + data * 8;
                let tag = if a.data_words > 0 {
                    frame.get(at..at + 2).map_or(0, u16::read)
                } else {
                    0
                };
                let bytes = if a.ptr_count > 0 {
                    element(frame, a.base, data + a.data_words)
                } else {
                    &[]
                };
                Some(TaskArg {
                    is_task: tag == 0,
                    data: if bytes.is_empty() {
                        Bytes::new()
                    } else {
                        frame.slice_ref(bytes)
                    },
                })
            }
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = TaskArg> + '_ {
        (0..self.len()).map(move |i| {
            self.get(i).unwrap_or(TaskArg {
                is_task: false,
                data: Bytes::new(),
            })
        })
    }
}

impl fmt::Debug for ArgList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A `List(Data)` of a message being handled: where it lies in the frame (checked by the fast reader),
/// or an owned list's elements. Reading it touches no reference count.
#[derive(Clone, Copy)]
pub struct DataRef<'a>(DataRefRepr<'a>);

#[derive(Clone, Copy)]
enum DataRefRepr<'a> {
    Owned(&'a [Bytes]),
    /// As `DataRepr::InFrame`.
    InFrame {
        frame: &'a Bytes,
        base: usize,
        start: usize,
        count: usize,
    },
}

impl<'a> DataRef<'a> {
    /// A list the fast reader checked element by element (see `DataRepr::InFrame`).
    pub(crate) fn in_frame(frame: &'a Bytes, base: usize, start: usize, count: usize) -> Self {
        DataRef(DataRefRepr::InFrame {
            frame,
            base,
            start,
            count,
        })
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            DataRefRepr::Owned(v) => v.len(),
            DataRefRepr::InFrame { count, .. } => *count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        match self.0 {
            DataRefRepr::Owned(v) => v.get(i).map(|b| &b[..]),
            DataRefRepr::InFrame {
                frame,
                base,
                start,
                count,
            } => (i < count).then(|| element(frame, base, start + i)),
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let this = *self;
        (0..self.len()).map(move |i| this.get(i).unwrap_or_default())
    }

    /// Each element in an allocation of its own, so that keeping them does not keep the frame.
    pub fn to_owned_vec(&self) -> Vec<Bytes> {
        self.iter().map(Bytes::copy_from_slice).collect()
    }

    /// The list as a message field (sharing the frame, as the decoders' lists do).
    pub fn to_list(&self) -> DataList {
        match self.0 {
            DataRefRepr::Owned(v) => DataList::from(v.to_vec()),
            DataRefRepr::InFrame {
                frame,
                base,
                start,
                count,
            } => DataList::in_frame(frame, base, start, count),
        }
    }
}

/// A scalar list of a message being handled (see `DataRef`).
#[derive(Clone, Copy)]
pub struct ScalarRef<'a, T: Scalar>(ScalarRefRepr<'a, T>);

#[derive(Clone, Copy)]
enum ScalarRefRepr<'a, T: Scalar> {
    Owned(&'a [T]),
    /// As `ScalarRepr::InFrame`.
    InFrame {
        frame: &'a Bytes,
        at: usize,
        count: usize,
    },
}

impl<'a, T: Scalar> ScalarRef<'a, T> {
    pub(crate) fn in_frame(frame: &'a Bytes, at: usize, count: usize) -> Self {
        debug_assert!(at + count * T::SIZE <= frame.len());
        ScalarRef(ScalarRefRepr::InFrame { frame, at, count })
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            ScalarRefRepr::Owned(v) => v.len(),
            ScalarRefRepr::InFrame { count, .. } => *count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<T> {
        match self.0 {
            ScalarRefRepr::Owned(v) => v.get(i).copied(),
            ScalarRefRepr::InFrame { frame, at, count } => {
                if i >= count {
                    return None;
                }
                let from = at + i * T::SIZE;
                frame.get(from..from + T::SIZE).map(T::read)
            }
        }
    }

    pub fn to_list(&self) -> ScalarList<T> {
        match self.0 {
            ScalarRefRepr::Owned(v) => ScalarList::from(v.to_vec()),
            ScalarRefRepr::InFrame { frame, at, count } => ScalarList::in_frame(frame, at, count),
        }
    }
}

/// A Task's arguments while the Task is handled: the scheduler never reads them on the way in, so
/// this only says where they are, for turning the view back into a `Task`.
#[derive(Clone, Copy)]
pub struct ArgsRef<'a>(ArgsRefRepr<'a>);

#[derive(Clone, Copy)]
enum ArgsRefRepr<'a> {
    List(&'a ArgList),
    /// As `ArgRepr::InFrame`.
    InFrame {
        frame: &'a Bytes,
        count: usize,
        shape: ArgShape,
    },
}

impl<'a> ArgsRef<'a> {
    pub(crate) fn in_frame(frame: &'a Bytes, count: usize, shape: ArgShape) -> Self {
        ArgsRef(ArgsRefRepr::InFrame {
            frame,
            count,
            shape,
        })
    }

    pub fn list(l: &'a ArgList) -> Self {
        ArgsRef(ArgsRefRepr::List(l))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            ArgsRefRepr::List(l) => l.len(),
            ArgsRefRepr::InFrame { count, .. } => *count,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn to_list(&self) -> ArgList {
        match self.0 {
            ArgsRefRepr::List(l) => l.clone(),
            ArgsRefRepr::InFrame {
                frame,
                count,
                shape,
            } => ArgList::in_frame(frame, count, shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment (no message header, `base` 8 skips a stand-in one) with a two-element data list:
    /// word 1 -> word 3 ("abc"), word 2 null, and a u16 list at word 4.
    fn frame() -> Bytes {
        let mut w: Vec<u64> = vec![0; 6];
        w[1] = 1 | (1 << 2) | (2 << 32) | (3 << 35); // offset 1: word 1 + 1 + 1 = word 3
        w[2] = 0;
        w[3] = 0x0063_6261;
        w[4] = 0x0003_0002_0001;
        Bytes::from(w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())
    }

    #[test]
    fn in_frame_lists_read_like_owned_ones() {
        let f = frame();
        let d = DataList::in_frame(&f, 0, 1, 2);
        assert_eq!(d.len(), 2);
        assert_eq!(d.get(0), Some(&b"abc"[..]));
        assert_eq!(d.get(1), Some(&b""[..]));
        assert_eq!(d.get(2), None);
        assert_eq!(
            d,
            DataList::from(vec![Bytes::from_static(b"abc"), Bytes::new()])
        );
        assert_ne!(d, DataList::from(vec![Bytes::from_static(b"abc")]));
        let kept = d.to_owned_vec();
        assert_eq!(kept[0], &b"abc"[..]);
        assert!(!f.as_ptr_range().contains(&kept[0].as_ptr()));

        let s = ScalarList::<u16>::in_frame(&f, 32, 3);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(s, ScalarList::from(vec![1u16, 2, 3]));
        assert_eq!(s.get(3), None);
        let l = ScalarList::<u64>::in_frame(&f, 24, 1);
        assert_eq!(l.get(0), Some(0x0063_6261));
    }
}
