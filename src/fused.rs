//! Fused CPU kernel for forward renders.
//!
//! The same per-sample physics as [`crate::render::Renderer::render_pixels`], evaluated pixel
//! by pixel in one pass over host copies of the parameter tensors, with no intermediate batch
//! tensors: a forward render then costs a few hundred floating-point operations per sample
//! instead of a few hundred passes over memory. It has no backward pass: gradients use the
//! tensor path, and the test suite checks that both paths give the same image.

use crate::cli::Shape;
use crate::config::{Experiment, AVOGADRO, R_E_SQR};
use crate::device::to_vec;
use crate::render::Params;
use crate::vec3::{self, V3};

const WATER_F: f64 = 2.57;
const WATER_MW: f64 = 18.0;

struct Source {
    inc: V3,
    e_in: V3,
    b_in: V3,
    lambda: f64,
    factor: f64,
}

/// Host copies of everything one pixel needs.
pub struct FusedKernel<'a> {
    exp: &'a Experiment,
    pix0: V3,
    fdet: V3,
    sdet: V3,
    odet: V3,
    pixel: f64,
    close: f64,
    distance: f64,
    scale: f64,
    n: V3,
    kahn: f64,
    /// Rotated cell vectors a, b, c of every orientation (m).
    cells: Vec<[V3; 3]>,
    fgrid: Option<Vec<f64>>,
    sources: Vec<Source>,
    i_bg: f64,
}

fn s(t: &burn::tensor::Tensor<3>) -> f64 {
    to_vec(t.clone())[0]
}

fn v(t: &crate::physics::Vec3T<3>) -> V3 {
    [s(&t.x), s(&t.y), s(&t.z)]
}

impl<'a> FusedKernel<'a> {
    pub fn new(exp: &'a Experiment, p: &Params) -> Self {
        let (a, b, c) = (v(&p.a), v(&p.b), v(&p.c));
        let r: Vec<Vec<f64>> = (0..9).map(|k| to_vec(p.orient[k / 3][k % 3].clone())).collect();
        let m = r[0].len();
        let cells = (0..m)
            .map(|o| {
                let rot = |x: V3| -> V3 {
                    std::array::from_fn(|i| r[3 * i][o] * x[0] + r[3 * i + 1][o] * x[1] + r[3 * i + 2][o] * x[2])
                };
                [rot(a), rot(b), rot(c)]
            })
            .collect();
        let lambda_scale = s(&p.lambda_scale);
        let weights = p.source_weights.as_ref().map(|w| to_vec(w.clone()));
        let mean_w = weights.as_ref().map(|w| w.iter().sum::<f64>() / w.len() as f64);
        let beam = &exp.beam;
        let sources = beam
            .sources
            .iter()
            .enumerate()
            .map(|(i, src)| {
                let (inc, e_in, b_in) = src.incident_frame(beam.polar_vector);
                let factor = match (&weights, mean_w) {
                    (Some(w), Some(mw)) => w[i] / mw,
                    _ => 1.0,
                };
                Source { inc, e_in, b_in, lambda: src.lambda * lambda_scale, factor }
            })
            .collect();
        let fluence = s(&p.fluence);
        let smp = &exp.sampling;
        FusedKernel {
            exp,
            pix0: v(&p.pix0),
            fdet: v(&p.fdet),
            sdet: v(&p.sdet),
            odet: v(&p.odet),
            pixel: s(&p.pixel_size),
            close: s(&p.close_distance),
            distance: s(&p.distance),
            scale: fluence * (R_E_SQR / smp.steps as f64),
            n: [s(&p.na), s(&p.nb), s(&p.nc)],
            kahn: s(&p.kahn),
            cells,
            fgrid: p.fgrid.as_ref().map(|g| to_vec(g.clone())),
            sources,
            i_bg: WATER_F * WATER_F * R_E_SQR * fluence * smp.water_size.powi(3) * 1e6 * AVOGADRO / WATER_MW,
        }
    }

    /// Value of pixel `idx` (slow * fpixels + fast), photons.
    pub fn pixel(&self, idx: usize) -> f64 {
        let exp = self.exp;
        let det = &exp.detector;
        let smp = &exp.sampling;
        let beam = &exp.beam;
        let (f, sl) = ((idx % det.fpixels) as f64, (idx / det.fpixels) as f64);
        let os = smp.oversample.max(1);
        let subpix = self.pixel * (1.0 / os as f64);
        let layers = det.thicksteps.max(1);
        let mut isum = 0.0;
        let mut omega_first = 0.0;
        let mut capture_last = 1.0;
        let mut polar_first = if beam.nopolar { 1.0 } else { 0.0 };
        let mut polar_found = false;
        for t in 0..layers {
            let odet_off = t as f64 * det.thickstep;
            for sub_s in 0..os {
                for sub_f in 0..os {
                    let first_sub = sub_s == 0 && sub_f == 0;
                    let fd = (f * os as f64 + (sub_f as f64 + 0.5)) * subpix;
                    let sd = (sl * os as f64 + (sub_s as f64 + 0.5)) * subpix;
                    let mut pos: V3 = std::array::from_fn(|i| self.fdet[i] * fd + self.sdet[i] * sd + self.pix0[i]);
                    if odet_off != 0.0 {
                        pos = std::array::from_fn(|i| pos[i] + self.odet[i] * odet_off);
                    }
                    if det.curved {
                        let base = vec3::scale(det.beam_vector, self.distance);
                        let r1 = vec3::rotate_axis(base, self.sdet, pos[1] / self.distance);
                        pos = vec3::rotate_axis(r1, self.fdet, pos[2] / self.distance);
                    }
                    let air = vec3::norm(pos);
                    let d = [pos[0] / air, pos[1] / air, pos[2] / air];
                    let omega = if det.point_pixel {
                        1.0 / (air * air)
                    } else {
                        self.pixel * self.pixel / (air * air) * self.close / air
                    };
                    let capture = if det.thick > 0.0 {
                        let par = vec3::dot(d, self.odet);
                        let k = det.thickstep * det.mu;
                        (-(t as f64) * k / par).exp() - (-((t + 1) as f64) * k / par).exp()
                    } else {
                        1.0
                    };
                    if t == 0 && first_sub {
                        omega_first = omega;
                    }
                    if t == layers - 1 && first_sub {
                        capture_last = capture;
                    }
                    let mut psum = 0.0;
                    for src in &self.sources {
                        let q: V3 = std::array::from_fn(|i| (d[i] - src.inc[i]) / src.lambda);
                        let fail = smp.dmin > 0.0 && vec3::norm(q) * 0.5 * smp.dmin > 0.5;
                        let want_first = !beam.nopolar && !polar_found && !fail && ((first_sub && t == 0) || smp.dmin > 0.0);
                        let pol = if beam.nopolar || !(want_first || smp.oversample_polar) { 1.0 } else { polarization(self.kahn, src, d) };
                        if want_first {
                            polar_first = pol;
                            polar_found = true;
                        }
                        if fail {
                            continue;
                        }
                        let mut ssum = 0.0;
                        for cell in &self.cells {
                            ssum += self.term(q, cell);
                        }
                        if smp.oversample_polar && !beam.nopolar {
                            ssum *= pol;
                        }
                        psum += ssum * src.factor;
                    }
                    if smp.oversample_thick {
                        psum *= capture;
                    }
                    if smp.oversample_omega {
                        psum *= omega;
                    }
                    isum += psum;
                }
            }
        }
        let mut bragg = isum;
        if !smp.oversample_thick {
            bragg *= capture_last;
        }
        if !smp.oversample_polar {
            bragg *= polar_first;
        }
        if !smp.oversample_omega {
            bragg *= omega_first;
        }
        let total = if self.i_bg != 0.0 { bragg + capture_last * polar_first * omega_first * self.i_bg } else { bragg };
        total * self.scale
    }

    /// F_cell^2 F_latt^2 of one sample.
    #[inline]
    fn term(&self, q: V3, cell: &[V3; 3]) -> f64 {
        let exp = self.exp;
        let cr = &exp.crystal;
        let hkl = [vec3::dot(q, cell[0]), vec3::dot(q, cell[1]), vec3::dot(q, cell[2])];
        let h0: V3 = std::array::from_fn(|i| (hkl[i] - 0.5).ceil());
        let fr: V3 = std::array::from_fn(|i| hkl[i] - h0[i]);
        let [na, nb, nc] = self.n;
        let nnn = na * nb * nc;
        let f_latt = match cr.shape {
            Shape::Square => sincg(fr[0], na) * sincg(fr[1], nb) * sincg(fr[2], nc),
            Shape::Round => {
                let hrad = fr[0] * fr[0] * na * na + fr[1] * fr[1] * nb * nb + fr[2] * fr[2] * nc * nc;
                sinc3_of_sq(hrad * (std::f64::consts::PI * std::f64::consts::PI * cr.fudge)) * nnn * 0.723601254558268
            }
            Shape::Gauss | Shape::Tophat => {
                let (a, b, c) = (cr.a_star, cr.b_star, cr.c_star);
                let dx: V3 = std::array::from_fn(|i| fr[0] * a[i] + fr[1] * b[i] + fr[2] * c[i]);
                let rad = vec3::dot(dx, dx) * (nnn * nnn);
                if cr.shape == Shape::Gauss {
                    (rad * (-cr.fudge / 0.63)).exp() * nnn
                } else if rad * cr.fudge < 0.3969 {
                    nnn
                } else {
                    0.0
                }
            }
        };
        let st = &exp.structure;
        let f_cell = match (&self.fgrid, &st.grid) {
            (Some(g), Some(grid)) => {
                if st.interpolate {
                    interpolated(g, grid, st.default_f, hkl, h0)
                } else {
                    nearest(g, grid, st.default_f, h0)
                }
            }
            _ => st.default_f,
        };
        f_cell * f_cell * f_latt * f_latt
    }
}

fn polarization(kahn: f64, src: &Source, d: V3) -> f64 {
    let c2t = vec3::dot(src.inc, d);
    let c2 = c2t * c2t;
    let s2 = 1.0 - c2;
    let e = vec3::dot(d, src.e_in);
    let b = vec3::dot(d, src.b_in);
    let r2 = e * e + b * b;
    let cos2psi = if r2 < 1e-30 { 1.0 } else { (e * e - b * b) / r2 };
    (c2 + 1.0 - cos2psi * s2 * kahn) * 0.5
}

#[inline]
fn sincg(f: f64, n: f64) -> f64 {
    let x = f * std::f64::consts::PI;
    if x.abs() < 1e-4 {
        n * (1.0 - (n * n - 1.0) * x * x * (1.0 / 6.0))
    } else if n.fract() == 0.0 && (1.0..=16.0).contains(&n) {
        // sin(n x) / sin(x) = U_{n-1}(cos x): one cosine and a short Chebyshev recurrence
        // instead of two sines
        let c2 = 2.0 * x.cos();
        let (mut u0, mut u1) = (1.0, c2);
        if n == 1.0 {
            return 1.0;
        }
        for _ in 2..n as usize {
            let u2 = c2 * u1 - u0;
            u0 = u1;
            u1 = u2;
        }
        u1
    } else {
        (x * n).sin() / x.sin()
    }
}

fn sinc3_of_sq(x2: f64) -> f64 {
    if x2 < 1e-6 {
        1.0 - x2 * 0.1 + x2 * x2 * (1.0 / 280.0)
    } else {
        let x = x2.sqrt();
        (x.sin() - x * x.cos()) * 3.0 / (x2 * x)
    }
}

fn grid_index(grid: &crate::io::hkl::HklGrid, h: f64, k: f64, l: f64) -> usize {
    let (kr, lr) = ((grid.k_max - grid.k_min + 1) as f64, (grid.l_max - grid.l_min + 1) as f64);
    (((h - grid.h_min as f64) * (kr + 1.0) + (k - grid.k_min as f64)) * (lr + 1.0) + (l - grid.l_min as f64)) as usize
}

fn nearest(g: &[f64], grid: &crate::io::hkl::HklGrid, default_f: f64, h0: V3) -> f64 {
    let inside = |x: f64, lo: i32, hi: i32| x >= lo as f64 && x <= hi as f64;
    if inside(h0[0], grid.h_min, grid.h_max) && inside(h0[1], grid.k_min, grid.k_max) && inside(h0[2], grid.l_min, grid.l_max) {
        g[grid_index(grid, h0[0], h0[1], h0[2])]
    } else {
        default_f
    }
}

fn interpolated(g: &[f64], grid: &crate::io::hkl::HklGrid, default_f: f64, hkl: V3, h0: V3) -> f64 {
    let ranges = [
        (grid.h_min, (grid.h_max - grid.h_min + 1) as f64),
        (grid.k_min, (grid.k_max - grid.k_min + 1) as f64),
        (grid.l_min, (grid.l_max - grid.l_min + 1) as f64),
    ];
    for i in 0..3 {
        let (min, range) = ranges[i];
        if hkl[i] - min as f64 + 3.0 > range || hkl[i] - 2.0 < min as f64 {
            return nearest(g, grid, default_f, h0);
        }
    }
    let fl: V3 = std::array::from_fn(|i| hkl[i].floor());
    let w = |x: f64, xf: f64| -> [f64; 4] {
        let u = x - xf;
        [
            u * (u - 1.0) * (u - 2.0) * (-1.0 / 6.0),
            (u + 1.0) * (u - 1.0) * (u - 2.0) * 0.5,
            (u + 1.0) * u * (u - 2.0) * (-0.5),
            (u + 1.0) * u * (u - 1.0) * (1.0 / 6.0),
        ]
    };
    let (wh, wk, wl) = (w(hkl[0], fl[0]), w(hkl[1], fl[1]), w(hkl[2], fl[2]));
    let mut acc = 0.0;
    for i in 0..4 {
        for j in 0..4 {
            let wij = wh[i] * wk[j];
            for k in 0..4 {
                let idx = grid_index(grid, fl[0] - 1.0 + i as f64, fl[1] - 1.0 + j as f64, fl[2] - 1.0 + k as f64);
                acc += g[idx] * wij * wl[k];
            }
        }
    }
    acc
}
