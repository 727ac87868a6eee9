//! Output sizes of image layers, computed by the type checker on stable Rust.
//!
//! dfdx 0.13 computes the side of a convolution's output, `(N + 2P - K) / S + 1`, as a
//! const expression over the layer's generics (`Const<{ ... }>`), which needs nightly's
//! `generic_const_exprs`. Here the same sizes come from lookup traits whose impls a
//! `macro_rules!` writes out for a bounded range of sizes, factored into steps so that
//! a few hundred impls cover every combination:
//!
//! - [`Padded<P>`]: `N` → `N + 2P`, by `P` steps of [`AddTwo`] (`N + 2`);
//! - [`Window<K>`]: `N` → `N - K + 1` (positions of a `K`-wide window at stride 1), by
//!   `K - 1` steps of [`Decrement`];
//! - [`Strided<S>`]: `M` → `(M - 1) / S + 1` (every `S`th of `M` positions), a table;
//! - [`ConvOutput<K, S, P>`]: the three in a row, `(N + 2P - K) / S + 1`.
//!
//! # Limits
//!
//! - sides ([`MAX_SIDE`]): up to 128 pixels before padding;
//! - kernels ([`MAX_KERNEL`]): 1 to 7;
//! - strides ([`MAX_STRIDE`]): 1 to 4;
//! - padding ([`MAX_PADDING`]): 0 to 3.
//!
//! Kernel 1, stride 1 and padding 0 are the identity and work for any side. A size
//! outside these limits, or a kernel wider than the padded image, has no impl: the
//! layer is then not a module for that input, which is a compile error, never a panic.
//!
//! [`Flattened`] gives the width `C * H * W` of a flattened feature map for square maps
//! (`H == W`) of side 1 to 32 ([`MAX_FLAT_SIDE`]) and 1 to 64 channels, or 96, 128, 192,
//! 256, 384 or 512 channels.

use dfdx::shapes::{Const, ConstDim};

/// Largest side of an image (before padding) that the size tables cover.
pub const MAX_SIDE: usize = 128;
/// Largest kernel side that the size tables cover.
pub const MAX_KERNEL: usize = 7;
/// Largest stride that the size tables cover.
pub const MAX_STRIDE: usize = 4;
/// Largest padding that the size tables cover.
pub const MAX_PADDING: usize = 3;
/// Largest side of a square feature map that [`Flattened`] covers.
pub const MAX_FLAT_SIDE: usize = 32;

/// `Const<N>` → `Const<N + 2>`, for `N` up to `MAX_SIDE + 2 * (MAX_PADDING - 1)`.
#[diagnostic::on_unimplemented(
    message = "feddx's size table has no side `{Self}` to pad",
    note = "image sides up to 128 pixels and padding up to 3 are covered (see `feddx::layers::sizes`)"
)]
pub trait AddTwo {
    /// The side plus two.
    type Out: ConstDim;
}

/// `Const<N>` → `Const<N - 1>`, for `N` from 2 up to `MAX_SIDE + 2 * MAX_PADDING`.
#[diagnostic::on_unimplemented(
    message = "the kernel does not fit in the padded image, or side `{Self}` is outside feddx's size table",
    note = "a kernel must not be wider than the padded image; sides up to 128 pixels and kernels up to 7 are covered (see `feddx::layers::sizes`)"
)]
pub trait Decrement {
    /// The side minus one.
    type Out: ConstDim;
}

/// `Const<N>` → `Const<N + 2P>`: a side padded by `P` on both ends.
pub trait Padded<const P: usize> {
    /// The padded side.
    type Out: ConstDim;
}

/// `Const<N>` → `Const<N - K + 1>`: the positions of a `K`-wide window at stride 1.
pub trait Window<const K: usize> {
    /// The number of positions.
    type Out: ConstDim;
}

/// `Const<M>` → `Const<(M - 1) / S + 1>`: every `S`th of `M` positions, from the first.
#[diagnostic::on_unimplemented(
    message = "feddx's size table has no stride-{S} entry for `{Self}`",
    note = "strides 1 to 4 over up to 134 positions are covered (see `feddx::layers::sizes`)"
)]
pub trait Strided<const S: usize> {
    /// The number of positions kept.
    type Out: ConstDim;
}

/// `Const<N>` → `Const<(N + 2P - K) / S + 1>`: the output side of a `K`-wide window at
/// stride `S` over a side of `N` padded by `P`, as for PyTorch's `Conv2d` and `MaxPool2d`.
pub trait ConvOutput<const K: usize, const S: usize, const P: usize> {
    /// The output side.
    type Out: ConstDim;
}

impl<D, const K: usize, const S: usize, const P: usize> ConvOutput<K, S, P> for D
where
    D: Padded<P>,
    <D as Padded<P>>::Out: Window<K>,
    <<D as Padded<P>>::Out as Window<K>>::Out: Strided<S>,
{
    type Out = <<<D as Padded<P>>::Out as Window<K>>::Out as Strided<S>>::Out;
}

/// The width `C * H * W` of a flattened `(C, H, W)` feature map, for the tuple
/// `(Const<C>, Const<H>, Const<W>)`.
#[diagnostic::on_unimplemented(
    message = "feddx's size table cannot flatten a feature map of shape `{Self}`",
    note = "`Flatten2D` covers square maps (H == W) of side 1 to 32, with 1 to 64 channels or 96, 128, 192, 256, 384 or 512 (see `feddx::layers::sizes`)"
)]
pub trait Flattened {
    /// `Const<C * H * W>`.
    type Out: ConstDim;
}

impl<const N: usize> Padded<0> for Const<N> {
    type Out = Const<N>;
}

/// `$name<$k>` for any side `D` as one `$step` and then `$name<$k - 1>`.
macro_rules! one_step_more {
    ($name:ident, $step:ident: $($k:literal after $prev:literal),*) => {
        $(impl<D: $step> $name<$k> for D
        where
            D::Out: $name<$prev>,
        {
            type Out = <D::Out as $name<$prev>>::Out;
        })*
    };
}

one_step_more!(Padded, AddTwo: 1 after 0, 2 after 1, 3 after 2);

impl<const N: usize> Window<1> for Const<N> {
    type Out = Const<N>;
}

one_step_more!(Window, Decrement: 2 after 1, 3 after 2, 4 after 3, 5 after 4, 6 after 5, 7 after 6);

impl<const N: usize> Strided<1> for Const<N> {
    type Out = Const<N>;
}

macro_rules! add_two {
    ($($n:literal)*) => {
        $(impl AddTwo for Const<$n> {
            type Out = Const<{ $n + 2 }>;
        })*
    };
}

macro_rules! decrement {
    ($($n:literal)*) => {
        $(impl Decrement for Const<$n> {
            type Out = Const<{ $n - 1 }>;
        })*
    };
}

macro_rules! strided {
    ([$($s:literal)*] $sides:tt) => {
        $(strided!(@one $s $sides);)*
    };
    (@one $s:literal [$($n:literal)*]) => {
        $(impl Strided<$s> for Const<$n> {
            type Out = Const<{ ($n - 1) / $s + 1 }>;
        })*
    };
}

macro_rules! flattened {
    ([$($c:literal)*] $sides:tt) => {
        $(flattened!(@one $c $sides);)*
    };
    (@one $c:literal [$($s:literal)*]) => {
        $(impl Flattened for (Const<$c>, Const<$s>, Const<$s>) {
            type Out = Const<{ $c * $s * $s }>;
        })*
    };
}

// 1 ..= MAX_SIDE + 2 * (MAX_PADDING - 1)
add_two!(
    1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
    33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62
    63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92
    93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116
    117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 132
);

// 2 ..= MAX_SIDE + 2 * MAX_PADDING
decrement!(
    2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
    33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62
    63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92
    93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116
    117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 132 133 134
);

// Strides 2 ..= MAX_STRIDE over 1 ..= MAX_SIDE + 2 * MAX_PADDING positions.
strided!([2 3 4] [
    1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
    33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62
    63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92
    93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116
    117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 132 133 134
]);

// Channels 1 ..= 64 and six wider counts, square sides 1 ..= MAX_FLAT_SIDE.
flattened!([
    1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
    33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62
    63 64 96 128 192 256 384 512
] [
    1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
]);

#[cfg(test)]
mod tests {
    use super::*;

    fn side<D: ConstDim>() -> usize {
        D::SIZE
    }

    fn conv<const N: usize, const K: usize, const S: usize, const P: usize>() -> usize
    where
        Const<N>: ConvOutput<K, S, P>,
    {
        side::<<Const<N> as ConvOutput<K, S, P>>::Out>()
    }

    fn formula(n: usize, k: usize, s: usize, p: usize) -> usize {
        (n + 2 * p - k) / s + 1
    }

    #[test]
    fn the_tables_agree_with_the_formula() {
        assert_eq!(conv::<8, 3, 1, 1>(), formula(8, 3, 1, 1));
        assert_eq!(conv::<8, 3, 1, 0>(), 6);
        assert_eq!(conv::<8, 2, 2, 0>(), 4);
        assert_eq!(conv::<7, 2, 2, 0>(), 3);
        assert_eq!(conv::<28, 5, 2, 2>(), formula(28, 5, 2, 2));
        assert_eq!(conv::<28, 3, 3, 1>(), formula(28, 3, 3, 1));
        assert_eq!(conv::<128, 7, 4, 3>(), formula(128, 7, 4, 3));
        assert_eq!(conv::<128, 7, 1, 3>(), 128);
        assert_eq!(conv::<1, 1, 1, 0>(), 1);
        assert_eq!(conv::<7, 7, 1, 0>(), 1);
        assert_eq!(conv::<5, 7, 1, 1>(), 1);
        // The identity steps need no table: any side.
        assert_eq!(conv::<1000, 1, 1, 0>(), 1000);
    }

    #[test]
    fn every_tabled_side_agrees_with_the_formula() {
        // Spot-check the whole range through one kernel/stride/padding per step.
        macro_rules! check {
            ($($n:literal)*) => {
                $(
                    assert_eq!(conv::<$n, 3, 2, 1>(), formula($n, 3, 2, 1), "side {}", $n);
                    assert_eq!(conv::<$n, 1, 3, 3>(), formula($n, 1, 3, 3), "side {}", $n);
                    assert_eq!(conv::<$n, 1, 4, 0>(), formula($n, 1, 4, 0), "side {}", $n);
                )*
            };
        }
        check!(1 2 3 4 5 6 7 8 9 10 16 31 32 33 63 64 65 100 127 128);
    }

    #[test]
    fn flattened_widths_are_products() {
        fn width<T: Flattened>() -> usize {
            T::Out::SIZE
        }
        assert_eq!(width::<(Const<16>, Const<4>, Const<4>)>(), 256);
        assert_eq!(width::<(Const<1>, Const<32>, Const<32>)>(), 1024);
        assert_eq!(width::<(Const<512>, Const<7>, Const<7>)>(), 512 * 49);
    }
}
