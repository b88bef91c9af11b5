//! The lattice-sum kernel in CubeCL: one unit per pixel sums detector layers x sub-pixels x
//! sources x orientations in float32, as the fused CPU kernel's forward pass does
//! ([`crate::engine::fused::FusedKernel::pixel`]); the terms are those of [`crate::physics`], written
//! here a second time in the kernel language (the physics tests compare the two images).

use burn::cubecl;
use burn::cubecl::prelude::*;

use crate::physics::constants;

/// Layout of the scalar input buffer (`geo`): the fixed-width kernel inputs at their declared
/// offsets ([`crate::engine::inputs::flat`]), then the values only this kernel reads.
pub mod geo {
    pub use crate::engine::inputs::flat::{BG, CLOSE, DISTANCE, FDET, FIXED, KAHN, N, ODET, PIX0, PIXEL, SCALE, SDET};
    crate::engine::inputs::slots!(FIXED => LEN {
        BEAM: 3,
        /// a*, b*, c* (the round, gauss and tophat shapes).
        STARS: 9,
        DMIN: 1,
        THICKSTEP: 1,
        MU: 1,
        FUDGE: 1,
        DEFAULT_F: 1,
        /// h_min, h_max, k_min, k_max, l_min, l_max of the structure-factor grid.
        GRID: 6,
    });
}

/// Floats per source in the source buffer: incident direction, E and B unit vectors,
/// wavelength (m), relative weight.
pub const SOURCE_STRIDE: usize = 11;

/// What the kernel is specialised on (compile-time branches).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct KernelConfig {
    /// 0 square, 1 round, 2 gauss, 3 tophat.
    pub shape: u32,
    pub oversample: u32,
    pub layers: u32,
    pub curved: bool,
    pub point_pixel: bool,
    pub thick: bool,
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,
    pub nopolar: bool,
    pub dmin: bool,
    /// 0 no table (default_F), 1 nearest neighbour, 2 tricubic interpolation.
    pub grid: u32,
    pub background: bool,
}

const PI: f32 = core::f32::consts::PI;
// the physics constants in the kernel's precision, from the one table (physics/constants.rs)
const SINCG_SERIES_BELOW: f32 = constants::SINCG_SERIES_BELOW as f32;
const SINC3_SERIES_BELOW: f32 = constants::SINC3_SERIES_BELOW_F32 as f32;
const ROUND_NORM: f32 = constants::ROUND_NORM as f32;
const GAUSS_WIDTH: f32 = constants::GAUSS_WIDTH as f32;
const TOPHAT_RADIUS_SQ: f32 = constants::TOPHAT_RADIUS_SQ as f32;
const POLAR_PROJ_SQ_BELOW: f32 = constants::POLAR_PROJ_SQ_BELOW as f32;

#[cube]
fn sincg(f: f32, n: f32) -> f32 {
    let x = f * PI;
    if f32::abs(x) < SINCG_SERIES_BELOW {
        n * ((n * n - 1.0f32) * (x * x) * (-1.0f32 / 6.0f32) + 1.0f32)
    } else {
        f32::sin(x * n) / f32::sin(x)
    }
}

/// 3 (sin x - x cos x) / x^3 of x^2. Its Taylor series is used up to x^2 = 1 (the closed form
/// cancels badly in float32 for small x; the series' truncation error there is below 1e-10).
#[cube]
fn sinc3_of_sq(x2: f32) -> f32 {
    if x2 < SINC3_SERIES_BELOW {
        let s = x2 * (-1.0f32 / 172972800.0f32) + 1.0f32 / 1330560.0f32;
        let s = s * x2 - 1.0f32 / 15120.0f32;
        let s = s * x2 + 1.0f32 / 280.0f32;
        let s = s * x2 - 0.1f32;
        s * x2 + 1.0f32
    } else {
        let x = f32::sqrt(x2);
        (f32::sin(x) - x * f32::cos(x)) * 3.0f32 / (x2 * x)
    }
}

/// ceil(h - 1/2), the reference's nearest whole index.
#[cube]
fn nearest_index(h: f32) -> f32 {
    f32::ceil(h - 0.5f32)
}

/// Lagrange weight of grid point `i` (0..4, at floor(x) - 1 + i) for offset u = x - floor(x).
#[cube]
fn tricubic_weight(u: f32, i: u32) -> f32 {
    let um1 = u - 1.0f32;
    let um2 = u - 2.0f32;
    let up1 = u + 1.0f32;
    let mut w = up1 * u * um1 * (1.0f32 / 6.0f32);
    if i == 0 {
        w = u * um1 * um2 * (-1.0f32 / 6.0f32);
    } else if i == 1 {
        w = up1 * um1 * um2 * 0.5f32;
    } else if i == 2 {
        w = up1 * u * um2 * (-0.5f32);
    }
    w
}

/// F of fractional indices (h, k, l) from the grid, or default_F outside it.
#[cube]
fn structure_factor(geo: &[f32], fgrid: &[f32], h: f32, k: f32, l: f32, #[comptime] mode: u32) -> f32 {
    let g = geo::GRID;
    let (h_min, h_max, k_min, k_max, l_min, l_max) = (geo[g], geo[g + 1], geo[g + 2], geo[g + 3], geo[g + 4], geo[g + 5]);
    let k1 = k_max - k_min + 2.0f32;
    let l1 = l_max - l_min + 2.0f32;
    let h0 = nearest_index(h);
    let k0 = nearest_index(k);
    let l0 = nearest_index(l);
    let outside = h0 < h_min || h0 > h_max || k0 < k_min || k0 > k_max || l0 < l_min || l0 > l_max;
    let mut value = geo[geo::DEFAULT_F];
    if !outside {
        let at = ((h0 - h_min) * k1 + (k0 - k_min)) * l1 + (l0 - l_min);
        value = fgrid[u32::cast_from(at) as usize];
    }
    if comptime![mode == 2] {
        let incomplete = (h - h_min + 3.0f32 > h_max - h_min + 1.0f32)
            || (h - 2.0f32 < h_min)
            || (k - k_min + 3.0f32 > k_max - k_min + 1.0f32)
            || (k - 2.0f32 < k_min)
            || (l - l_min + 3.0f32 > l_max - l_min + 1.0f32)
            || (l - 2.0f32 < l_min);
        if !incomplete {
            let hf = f32::floor(h);
            let kf = f32::floor(k);
            let lf = f32::floor(l);
            let base = u32::cast_from(((hf - 1.0f32 - h_min) * k1 + (kf - 1.0f32 - k_min)) * l1 + (lf - 1.0f32 - l_min));
            let (uk1, ul1) = (u32::cast_from(k1), u32::cast_from(l1));
            let mut acc = 0.0f32;
            for i in 0..4u32 {
                let wi = tricubic_weight(h - hf, i);
                for j in 0..4u32 {
                    let wij = wi * tricubic_weight(k - kf, j);
                    let row = base + i * uk1 * ul1 + j * ul1;
                    for m in 0..4u32 {
                        acc += fgrid[(row + m) as usize] * wij * tricubic_weight(l - lf, m);
                    }
                }
            }
            value = acc;
        }
    }
    value
}

/// F_latt for fractional indices (f0, f1, f2).
#[cube]
fn lattice_factor(geo: &[f32], f0: f32, f1: f32, f2: f32, #[comptime] shape: u32) -> f32 {
    let (n0, n1, n2) = (geo[geo::N], geo[geo::N + 1], geo[geo::N + 2]);
    let nnn = n0 * n1 * n2;
    let mut out = 0.0f32;
    if comptime![shape == 0] {
        out = sincg(f0, n0) * sincg(f1, n1) * sincg(f2, n2);
    } else if comptime![shape == 1] {
        let hrad = f0 * f0 * n0 * n0 + f1 * f1 * n1 * n1 + f2 * f2 * n2 * n2;
        out = sinc3_of_sq(hrad * (PI * PI) * geo[geo::FUDGE]) * nnn * ROUND_NORM;
    } else {
        let s = geo::STARS;
        let dx = f0 * geo[s] + f1 * geo[s + 3] + f2 * geo[s + 6];
        let dy = f0 * geo[s + 1] + f1 * geo[s + 4] + f2 * geo[s + 7];
        let dz = f0 * geo[s + 2] + f1 * geo[s + 5] + f2 * geo[s + 8];
        let rad = (dx * dx + dy * dy + dz * dz) * (nnn * nnn);
        if comptime![shape == 2] {
            out = f32::exp(rad * (-geo[geo::FUDGE] / GAUSS_WIDTH)) * nnn;
        } else if rad * geo[geo::FUDGE] < TOPHAT_RADIUS_SQ {
            out = nnn;
        }
    }
    out
}

/// Rodrigues rotation of (vx, vy, vz) about the unit axis at `geo[axis..]` by `theta`.
#[cube]
fn rotate_about(geo: &[f32], vx: f32, vy: f32, vz: f32, axis: usize, theta: f32) -> (f32, f32, f32) {
    let (kx, ky, kz) = (geo[axis], geo[axis + 1], geo[axis + 2]);
    let (s, c) = (f32::sin(theta), f32::cos(theta));
    let kv = (kx * vx + ky * vy + kz * vz) * (1.0f32 - c);
    let cx = ky * vz - kz * vy;
    let cy = kz * vx - kx * vz;
    let cz = kx * vy - ky * vx;
    (kx * kv + vx * c + cx * s, ky * kv + vy * c + cy * s, kz * kv + vz * c + cz * s)
}

/// Polarization factor of source `k` towards direction d.
#[cube]
fn polar(src: &[f32], k: usize, kahn: f32, dx: f32, dy: f32, dz: f32) -> f32 {
    let b = k * SOURCE_STRIDE;
    let c2t = src[b] * dx + src[b + 1] * dy + src[b + 2] * dz;
    let c2 = c2t * c2t;
    let s2 = 1.0f32 - c2;
    let e = dx * src[b + 3] + dy * src[b + 4] + dz * src[b + 5];
    let bb = dx * src[b + 6] + dy * src[b + 7] + dz * src[b + 8];
    let (e2, b2) = (e * e, bb * bb);
    let r2 = e2 + b2;
    let mut cos2psi = 1.0f32;
    if r2 >= POLAR_PROJ_SQ_BELOW {
        cos2psi = (e2 - b2) / r2;
    }
    (c2 + 1.0f32 - cos2psi * s2 * kahn) * 0.5f32
}

/// Unit direction (dx, dy, dz) from the sample, solid angle and capture fraction of sub-pixel
/// (`sub_f`, `sub_s`) of layer `t` of pixel (`fpix`, `spix`).
#[cube]
#[allow(clippy::too_many_arguments)]
fn sub_pixel(geo: &[f32], fpix: f32, spix: f32, t: u32, sub_f: u32, sub_s: u32, #[comptime] cfg: KernelConfig) -> (f32, f32, f32, f32, f32) {
    let os = comptime![cfg.oversample];
    let pixel = geo[geo::PIXEL];
    let subpix = pixel / f32::cast_from(os);
    let toff = f32::cast_from(t) * geo[geo::THICKSTEP];
    let fd = (fpix * f32::cast_from(os) + (f32::cast_from(sub_f) + 0.5f32)) * subpix;
    let sd = (spix * f32::cast_from(os) + (f32::cast_from(sub_s) + 0.5f32)) * subpix;
    let mut px = geo[geo::FDET] * fd + geo[geo::SDET] * sd + geo[geo::PIX0] + geo[geo::ODET] * toff;
    let mut py = geo[geo::FDET + 1] * fd + geo[geo::SDET + 1] * sd + geo[geo::PIX0 + 1] + geo[geo::ODET + 1] * toff;
    let mut pz = geo[geo::FDET + 2] * fd + geo[geo::SDET + 2] * sd + geo[geo::PIX0 + 2] + geo[geo::ODET + 2] * toff;
    if comptime![cfg.curved] {
        // every pixel at the same distance, pixel coordinates read as angles
        let dist = geo[geo::DISTANCE];
        let (bx, by, bz) = (geo[geo::BEAM] * dist, geo[geo::BEAM + 1] * dist, geo[geo::BEAM + 2] * dist);
        let (r1x, r1y, r1z) = rotate_about(geo, bx, by, bz, geo::SDET, py / dist);
        let (r2x, r2y, r2z) = rotate_about(geo, r1x, r1y, r1z, geo::FDET, pz / dist);
        px = r2x;
        py = r2y;
        pz = r2z;
    }
    let air = f32::sqrt(px * px + py * py + pz * pz);
    let (dx, dy, dz) = (px / air, py / air, pz / air);
    let mut omega = 1.0f32 / (air * air);
    if comptime![!cfg.point_pixel] {
        omega = pixel * pixel / (air * air) * geo[geo::CLOSE] / air;
    }
    let mut capture = 1.0f32;
    if comptime![cfg.thick] {
        let par = dx * geo[geo::ODET] + dy * geo[geo::ODET + 1] + dz * geo[geo::ODET + 2];
        let kk = geo[geo::THICKSTEP] * geo[geo::MU];
        let tf = f32::cast_from(t);
        capture = f32::exp(-tf * kk / par) - f32::exp(-(tf + 1.0f32) * kk / par);
    }
    (dx, dy, dz, omega, capture)
}

/// Σ over orientations of F^2 F_latt^2 at scattering vector q.
#[cube]
#[allow(clippy::too_many_arguments)]
fn orientation_sum(geo: &[f32], cells: &[f32], fgrid: &[f32], qx: f32, qy: f32, qz: f32, n_orient: u32, #[comptime] cfg: KernelConfig) -> f32 {
    let mut ssum = 0.0f32;
    for o in 0..n_orient {
        let c = (o as usize) * 9;
        let h = qx * cells[c] + qy * cells[c + 1] + qz * cells[c + 2];
        let kk = qx * cells[c + 3] + qy * cells[c + 4] + qz * cells[c + 5];
        let l = qx * cells[c + 6] + qy * cells[c + 7] + qz * cells[c + 8];
        let fl = lattice_factor(geo, h - nearest_index(h), kk - nearest_index(kk), l - nearest_index(l), comptime![cfg.shape]);
        let mut fc = geo[geo::DEFAULT_F];
        if comptime![cfg.grid > 0] {
            fc = structure_factor(geo, fgrid, h, kk, l, comptime![cfg.grid]);
        }
        ssum += fc * fc * (fl * fl);
    }
    ssum
}

/// Σ over sources (each over orientations) towards direction d, and the polarization factor
/// of the first sample as carried through the samples (`polar_first`, `polar_found`):
/// returns (sum, polar_first, polar_found). `first_sample`: the first sub-pixel of layer 0.
#[cube]
#[allow(clippy::too_many_arguments)]
fn source_sum(
    geo: &[f32],
    src: &[f32],
    cells: &[f32],
    fgrid: &[f32],
    dx: f32,
    dy: f32,
    dz: f32,
    first_sample: bool,
    polar_first: f32,
    polar_found: bool,
    n_sources: u32,
    n_orient: u32,
    #[comptime] cfg: KernelConfig,
) -> (f32, f32, bool) {
    let kahn = geo[geo::KAHN];
    let dmin = geo[geo::DMIN];
    let mut first = polar_first;
    let mut found = polar_found;
    let mut psum = 0.0f32;
    for k in 0..n_sources {
        let b = (k as usize) * SOURCE_STRIDE;
        let lam = src[b + 9];
        let qx = (dx - src[b]) / lam;
        let qy = (dy - src[b + 1]) / lam;
        let qz = (dz - src[b + 2]) / lam;
        let mut fail = false;
        if comptime![cfg.dmin] {
            fail = f32::sqrt(qx * qx + qy * qy + qz * qz) * 0.5f32 * dmin > 0.5f32;
        }
        let mut pol = 1.0f32;
        if comptime![!cfg.nopolar] {
            // the reference fixes the polarization factor at the first sub-pixel and
            // the first source that survives the resolution cut
            let want_first = !found && !fail && (first_sample || comptime![cfg.dmin]);
            if want_first || comptime![cfg.oversample_polar] {
                pol = polar(src, k as usize, kahn, dx, dy, dz);
            }
            if want_first {
                first = pol;
                found = true;
            }
        }
        if !fail {
            let mut ssum = orientation_sum(geo, cells, fgrid, qx, qy, qz, n_orient, cfg);
            if comptime![cfg.oversample_polar && !cfg.nopolar] {
                ssum *= pol;
            }
            psum += ssum * src[b + 10];
        }
    }
    (psum, first, found)
}

/// The pixel's value from the sum over samples and the factors fixed at the first (solid
/// angle, polarization) or last (capture fraction) sample, where they are not per sample.
#[cube]
fn combine(geo: &[f32], isum: f32, capture_last: f32, polar_first: f32, omega_first: f32, #[comptime] cfg: KernelConfig) -> f32 {
    let mut bragg = isum;
    if comptime![!cfg.oversample_thick] {
        bragg *= capture_last;
    }
    if comptime![!cfg.oversample_polar] {
        bragg *= polar_first;
    }
    if comptime![!cfg.oversample_omega] {
        bragg *= omega_first;
    }
    if comptime![cfg.background] {
        bragg += capture_last * polar_first * omega_first * geo[geo::BG];
    }
    bragg * geo[geo::SCALE]
}

/// The value (photons) of every pixel of a block of `rows` x `width` pixels starting at
/// (`f0`, `s0`); `out[i]` is pixel (f0 + i % width, s0 + i / width).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn lattice_sum(
    geo: &[f32],
    src: &[f32],
    cells: &[f32],
    fgrid: &[f32],
    out: &mut [f32],
    f0: u32,
    s0: u32,
    width: u32,
    count: u32,
    n_sources: u32,
    n_orient: u32,
    #[comptime] cfg: KernelConfig,
) {
    let idx = ABSOLUTE_POS_Y * (CUBE_COUNT_X * CUBE_DIM_X) + ABSOLUTE_POS_X;
    if idx >= count {
        terminate!();
    }
    let fpix = f32::cast_from(f0 + idx % width);
    let spix = f32::cast_from(s0 + idx / width);
    let os = comptime![cfg.oversample];
    let layers = comptime![cfg.layers];
    let mut isum = 0.0f32;
    let mut omega_first = 0.0f32;
    let mut capture_last = 1.0f32;
    let mut polar_first = 0.0f32;
    if comptime![cfg.nopolar] {
        polar_first = 1.0f32;
    }
    let mut polar_found = false;
    for t in 0..layers {
        for sub_s in 0..os {
            for sub_f in 0..os {
                let first_sub = sub_s == 0 && sub_f == 0;
                let (dx, dy, dz, omega, capture) = sub_pixel(geo, fpix, spix, t, sub_f, sub_s, cfg);
                if t == 0 && first_sub {
                    omega_first = omega;
                }
                if t == layers - 1 && first_sub {
                    capture_last = capture;
                }
                let (sum, first, found) = source_sum(geo, src, cells, fgrid, dx, dy, dz, first_sub && t == 0, polar_first, polar_found, n_sources, n_orient, cfg);
                polar_first = first;
                polar_found = found;
                let mut psum = sum;
                if comptime![cfg.oversample_thick] {
                    psum *= capture;
                }
                if comptime![cfg.oversample_omega] {
                    psum *= omega;
                }
                isum += psum;
            }
        }
    }
    out[idx as usize] = combine(geo, isum, capture_last, polar_first, omega_first, cfg);
}

#[cfg(test)]
mod tests {
    use super::geo;
    use crate::engine::inputs::{flat, KernelValues};

    #[test]
    fn scalar_buffer_offsets_come_from_the_declared_layout() {
        // the kernel inputs sit where the declaration puts them in the flat form
        let shared = [
            ("PIX0", geo::PIX0),
            ("FDET", geo::FDET),
            ("SDET", geo::SDET),
            ("ODET", geo::ODET),
            ("N", geo::N),
            ("PIXEL", geo::PIXEL),
            ("CLOSE", geo::CLOSE),
            ("DISTANCE", geo::DISTANCE),
            ("SCALE", geo::SCALE),
            ("BG", geo::BG),
            ("KAHN", geo::KAHN),
        ];
        let declared: Vec<(&str, usize)> = flat::SLOTS.iter().map(|&(n, at, _)| (n, at)).collect();
        assert_eq!(declared, shared);
        // every slot (declared inputs, then the kernel's own) tiles 0..LEN with no gap or overlap
        let mut at = 0;
        for &(name, off, width) in flat::SLOTS.iter().chain(geo::SLOTS) {
            assert_eq!(off, at, "{name}");
            at += width;
        }
        assert_eq!((flat::FIXED, at, geo::LEN), (21, geo::LEN, 44));
        // a value written in the declared layout is read at the kernel's offsets
        let v = KernelValues { pix0: [1.0, 2.0, 3.0], n: [4.0, 5.0, 6.0], pixel: 7.0, close: 8.0, distance: 9.0, kahn: 10.0, scale: 11.0, bg: 12.0, ..Default::default() };
        let mut g = vec![0.0; geo::LEN];
        v.put_fixed(&mut g[..geo::FIXED]);
        assert_eq!(&g[geo::PIX0..geo::PIX0 + 3], &[1.0, 2.0, 3.0]);
        assert_eq!(&g[geo::N..geo::N + 3], &[4.0, 5.0, 6.0]);
        let read = [g[geo::PIXEL], g[geo::CLOSE], g[geo::DISTANCE], g[geo::KAHN], g[geo::SCALE], g[geo::BG]];
        assert_eq!(read, [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
        assert!(g[geo::FIXED..].iter().all(|&x| x == 0.0));
    }
}
