//! The kernels' inputs ([`KernelValues`]) and their flat layout, declared once: each input is
//! named once with its type, and its width, its offset in the flat form (Jacobians, the GPU's
//! scalar buffer), the flat form, its inverse and the element-wise sum all follow from that
//! one declaration instead of being kept by hand beside it.

use crate::physics::vec3::V3;

/// One kernel input of fixed width in the flat form.
pub trait Slot: Sized {
    /// Values it takes in the flat form.
    const WIDTH: usize;
    /// Writes its values to `out[..WIDTH]`.
    fn put(&self, out: &mut [f64]);
    /// Reads it back from `flat[..WIDTH]`.
    fn get(flat: &[f64]) -> Self;
    /// Adds `o` element by element.
    fn add(&mut self, o: &Self);
}

impl Slot for f64 {
    const WIDTH: usize = 1;
    fn put(&self, out: &mut [f64]) {
        out[0] = *self;
    }
    fn get(flat: &[f64]) -> Self {
        flat[0]
    }
    fn add(&mut self, o: &Self) {
        *self += o;
    }
}

impl Slot for V3 {
    const WIDTH: usize = 3;
    fn put(&self, out: &mut [f64]) {
        out[..3].copy_from_slice(self);
    }
    fn get(flat: &[f64]) -> Self {
        [flat[0], flat[1], flat[2]]
    }
    fn add(&mut self, o: &Self) {
        (0..3).for_each(|i| self[i] += o[i]);
    }
}

/// Three vectors (a cell's a, b, c), one after the other.
impl Slot for [V3; 3] {
    const WIDTH: usize = 9;
    fn put(&self, out: &mut [f64]) {
        (0..3).for_each(|v| self[v].put(&mut out[3 * v..]));
    }
    fn get(flat: &[f64]) -> Self {
        std::array::from_fn(|v| V3::get(&flat[3 * v..]))
    }
    fn add(&mut self, o: &Self) {
        (0..3).for_each(|v| self[v].add(&o[v]));
    }
}

/// Consecutive offsets: `NAME` at the running offset (starting at `$at`), `$end` after the last.
macro_rules! offsets {
    ($at:expr; ; $end:ident) => {
        pub const $end: usize = $at;
    };
    ($at:expr; $(#[$m:meta])* $name:ident: $w:expr $(, $(#[$rm:meta])* $rest:ident: $rw:expr)*; $end:ident) => {
        $(#[$m])*
        pub const $name: usize = $at;
        $crate::engine::inputs::offsets!($name + $w; $($(#[$rm])* $rest: $rw),*; $end);
    };
}
pub(crate) use offsets;

/// A layout of consecutive slots from `$start`: `slots!(START => END { NAME: width, ... })`
/// declares a `usize` constant per slot (its offset; CubeCL kernels index with these), `END`
/// after the last, and `SLOTS`, the table of (name, offset, width) the layout tests read.
macro_rules! slots {
    ($start:expr => $end:ident { $($(#[$m:meta])* $name:ident: $w:expr),* $(,)? }) => {
        $crate::engine::inputs::offsets!($start; $($(#[$m])* $name: $w),*; $end);
        /// Every slot of this layout: name, offset, width.
        pub const SLOTS: &[(&str, usize, usize)] = &[$((stringify!($name), $name, $w)),*];
    };
}
pub(crate) use slots;

/// Declares the kernel-input struct from one list: the fixed-width inputs, each with the name
/// of its offset constant (module `flat`), in flat order; the inputs with one value per source
/// or orientation (after the fixed ones in the flat form, in this order); the structure-factor
/// table, which the flat form leaves out.
macro_rules! kernel_inputs {
    (
        $(#[$sm:meta])*
        pub struct $S:ident {
            fixed { $($(#[$fm:meta])* $field:ident: $ty:ty => $off:ident,)* }
            each { $($(#[$vm:meta])* $vfield:ident: Vec<$vty:ty>,)* }
            table { $(#[$tm:meta])* $tfield:ident }
        }
    ) => {
        $(#[$sm])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $S {
            $($(#[$fm])* pub $field: $ty,)*
            $($(#[$vm])* pub $vfield: Vec<$vty>,)*
            $(#[$tm])* pub $tfield: Vec<f64>,
        }

        /// Offsets of the fixed-width inputs in the flat form; `FIXED` values in all.
        pub mod flat {
            use super::*;
            $crate::engine::inputs::slots!(0 => FIXED { $($off: <$ty as Slot>::WIDTH),* });
        }

        impl $S {
            /// Writes the fixed-width inputs to `out[..flat::FIXED]` at their offsets.
            pub fn put_fixed(&self, out: &mut [f64]) {
                $(self.$field.put(&mut out[flat::$off..flat::$off + <$ty as Slot>::WIDTH]);)*
            }

            /// Every value except the structure-factor table, in the declared order (for
            /// Jacobians).
            pub fn to_flat(&self) -> Vec<f64> {
                let mut out = vec![0.0; flat::FIXED $(+ <$vty as Slot>::WIDTH * self.$vfield.len())*];
                self.put_fixed(&mut out);
                let mut at = flat::FIXED;
                $(for x in &self.$vfield {
                    x.put(&mut out[at..]);
                    at += <$vty as Slot>::WIDTH;
                })*
                debug_assert_eq!(at, out.len());
                out
            }

            /// The inverse of [`Self::to_flat`] for this layout (no structure factors).
            pub fn from_flat(&self, values: &[f64]) -> Self {
                let mut at = flat::FIXED;
                $(let $vfield: Vec<$vty> = (0..self.$vfield.len())
                    .map(|_| {
                        let x = <$vty as Slot>::get(&values[at..]);
                        at += <$vty as Slot>::WIDTH;
                        x
                    })
                    .collect();)*
                let _ = at;
                $S {
                    $($field: <$ty as Slot>::get(&values[flat::$off..]),)*
                    $($vfield,)*
                    $tfield: vec![],
                }
            }

            /// Zeros of this layout (`with_table`: include the structure-factor table).
            pub fn zeros_like(&self, with_table: bool) -> Self {
                $S {
                    $($vfield: vec![Default::default(); self.$vfield.len()],)*
                    $tfield: if with_table { vec![0.0; self.$tfield.len()] } else { vec![] },
                    ..Default::default()
                }
            }

            /// Adds `o` element by element (same layout).
            pub fn add(&mut self, o: &Self) {
                $(self.$field.add(&o.$field);)*
                $(for (a, b) in self.$vfield.iter_mut().zip(&o.$vfield) {
                    a.add(b);
                })*
                for (a, b) in self.$tfield.iter_mut().zip(&o.$tfield) {
                    *a += b;
                }
            }
        }
    };
}

kernel_inputs! {
    /// Host values of everything the kernel reads that a parameter can change; the same layout
    /// holds their gradients.
    pub struct KernelValues {
        fixed {
            /// Position of the first pixel's corner (m).
            pix0: V3 => PIX0,
            /// Unit vectors of the detector's fast and slow axes and its normal.
            fdet: V3 => FDET,
            sdet: V3 => SDET,
            odet: V3 => ODET,
            /// Crystal size in cells along a, b, c.
            n: V3 => N,
            /// Pixel size (m).
            pixel: f64 => PIXEL,
            /// Sample to detector plane along its normal (m), for the solid angle.
            close: f64 => CLOSE,
            /// Sample to detector along the beam (m), for the curved detector.
            distance: f64 => DISTANCE,
            /// fluence * r_e^2 / steps.
            scale: f64 => SCALE,
            /// Water background per pixel before the geometric factors (photons per unit scale).
            bg: f64 => BG,
            /// Kahn polarization factor of the beam.
            kahn: f64 => KAHN,
        }
        each {
            /// Wavelength of every source (m).
            lambda: Vec<f64>,
            /// Weight of every source relative to the mean weight.
            factor: Vec<f64>,
            /// Cell vectors a, b, c (m) of every orientation (phi step x mosaic domain).
            cells: Vec<[V3; 3]>,
        }
        table {
            /// Structure-factor table (padded layout of `HklGrid::values`); empty without a grid,
            /// and empty in a gradient unless structure-factor gradients were asked for.
            fgrid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct values in every input: 2 sources, 3 orientations, a table of 5.
    fn sample() -> KernelValues {
        let mut x = 0.0;
        let mut next = || {
            x += 1.25;
            x
        };
        let mut v3 = || [next(), next(), next()];
        KernelValues {
            pix0: v3(),
            fdet: v3(),
            sdet: v3(),
            odet: v3(),
            n: v3(),
            pixel: 0.1,
            close: 0.2,
            distance: 0.3,
            scale: 0.4,
            bg: 0.5,
            kahn: 0.6,
            lambda: vec![1e-10, 2e-10],
            factor: vec![0.7, 1.3],
            cells: (0..3).map(|o| std::array::from_fn(|v| std::array::from_fn(|i| (100 * o + 10 * v + i) as f64))).collect(),
            fgrid: vec![9.0; 5],
        }
    }

    #[test]
    fn flat_form_round_trips_and_follows_the_declared_offsets() {
        let v = sample();
        let f = v.to_flat();
        assert_eq!(f.len(), 21 + 2 * 2 + 9 * 3);
        assert_eq!(flat::FIXED, 21);
        assert_eq!(v.from_flat(&f), KernelValues { fgrid: vec![], ..v.clone() });
        // each fixed input at its declared offset, the order the Jacobians have always used
        assert_eq!(&f[flat::PIX0..flat::PIX0 + 3], &v.pix0);
        assert_eq!(&f[flat::N..flat::N + 3], &v.n);
        assert_eq!(f[flat::KAHN], v.kahn);
        let named: Vec<(&str, usize, usize)> = flat::SLOTS.to_vec();
        let expect = [("PIX0", 0, 3), ("FDET", 3, 3), ("SDET", 6, 3), ("ODET", 9, 3), ("N", 12, 3), ("PIXEL", 15, 1), ("CLOSE", 16, 1), ("DISTANCE", 17, 1), ("SCALE", 18, 1), ("BG", 19, 1), ("KAHN", 20, 1)];
        assert_eq!(named, expect);
        // then the sources' wavelengths, their weights and the cells, orientation by orientation
        assert_eq!(&f[21..23], &v.lambda[..]);
        assert_eq!(&f[23..25], &v.factor[..]);
        assert_eq!(&f[25 + 9..25 + 18], &[100.0, 101.0, 102.0, 110.0, 111.0, 112.0, 120.0, 121.0, 122.0]);
    }

    #[test]
    fn zeros_and_sums_keep_the_layout() {
        let v = sample();
        let z = v.zeros_like(true);
        assert_eq!((z.lambda.len(), z.cells.len(), z.fgrid.len()), (2, 3, 5));
        assert!(z.to_flat().iter().chain(&z.fgrid).all(|&x| x == 0.0));
        assert!(v.zeros_like(false).fgrid.is_empty());
        let mut s = v.clone();
        s.add(&v);
        let (a, b) = (s.to_flat(), v.to_flat());
        assert!(a.iter().zip(&b).all(|(x, y)| *x == 2.0 * y));
        assert_eq!(s.fgrid, vec![18.0; 5]);
    }
}
