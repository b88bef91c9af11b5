//! The fused CPU kernel: the per-pixel sum over detector layers x sub-pixels x sources x
//! crystal orientations in one pass, with no batch tensors, and its hand-derived reverse mode.
//!
//! Its inputs ([`KernelValues`]) are a few dozen numbers per experiment (detector vectors,
//! pixel size, crystal size, wavelengths, the rotated cell of every orientation, the
//! structure-factor table). They are computed from the model parameters by ordinary burn
//! tensor operations ([`KernelTensors`]), so the backward pass joins burn's autodiff through a
//! surrogate: the kernel returns d loss / d inputs, and `Σ g · inputs` is back-propagated
//! through the small parameter graph (exact first derivatives).
//!
//! The physical terms come from [`crate::physics`], evaluated on `f64` in the forward pass and
//! on [`crate::physics::Dual`] numbers (value and partial derivatives) in the backward pass.

use burn::tensor::Tensor;
use rayon::prelude::*;

use crate::experiment::Experiment;
use crate::engine::device::{to_vec, Target};
use crate::physics::constants::R_E_SQR;
use crate::physics::lattice::lattice_factor_grad;
use crate::physics::structure::HostLookup;
use crate::physics::{beyond_resolution, capture_fraction, lattice_factor, scattering_vector, nearest_index, polarization, solid_angle, water_background_per_fluence, Dual, ShapeSpec, Vec3T};
use crate::model::geometry::Geometry;
use crate::physics::vec3::{self, V3};

pub use crate::engine::inputs::KernelValues;

/// The kernel's inputs as tensors of the parameter graph.
pub struct KernelTensors {
    pub pix0: Vec3T<3>,
    pub fdet: Vec3T<3>,
    pub sdet: Vec3T<3>,
    pub odet: Vec3T<3>,
    pub pixel: Tensor<3>,
    pub close: Tensor<3>,
    pub distance: Tensor<3>,
    pub scale: Tensor<3>,
    pub bg: Tensor<3>,
    pub n: [Tensor<3>; 3],
    pub kahn: Tensor<3>,
    /// Shape [S].
    pub lambda: Tensor<1>,
    /// Shape [S].
    pub factor: Tensor<1>,
    /// cells[v][i]: component i of cell vector v (a, b, c) for every orientation, shape [M].
    pub cells: [[Tensor<1>; 3]; 3],
    pub fgrid: Option<Tensor<1>>,
    target: Target,
}

impl KernelTensors {
    /// The inputs computed from `p`, whose tensors live on `dev`.
    pub fn from_params(exp: &Experiment, p: &Geometry, dev: &Target) -> Self {
        let beam = &exp.beam;
        let ns = beam.sources.len();
        let lambda = dev.tensor(beam.sources.iter().map(|s| s.lambda).collect(), [ns]) * p.lambda_scale.clone().reshape([1]);
        let factor = match &p.source_weights {
            // weight / mean(weight)
            Some(w) => w.clone() * (w.clone().sum().recip() * ns as f64),
            None => dev.ones([ns]),
        };
        let m = p.orient[0][0].dims()[2];
        let rot = |v: &Vec3T<3>| -> [Tensor<1>; 3] {
            std::array::from_fn(|i| (p.orient[i][0].clone() * v.x.clone() + p.orient[i][1].clone() * v.y.clone() + p.orient[i][2].clone() * v.z.clone()).reshape([m]))
        };
        KernelTensors {
            pix0: p.pix0.clone(),
            fdet: p.fdet.clone(),
            sdet: p.sdet.clone(),
            odet: p.odet.clone(),
            pixel: p.pixel_size.clone(),
            close: p.close_distance.clone(),
            distance: p.distance.clone(),
            scale: p.fluence.clone() * (R_E_SQR / exp.sampling.steps as f64),
            bg: p.fluence.clone() * water_background_per_fluence(exp.sampling.water_size),
            n: [p.na.clone(), p.nb.clone(), p.nc.clone()],
            kahn: p.kahn.clone(),
            lambda,
            factor,
            cells: [rot(&p.a), rot(&p.b), rot(&p.c)],
            fgrid: p.fgrid.clone(),
            target: dev.clone(),
        }
    }

    /// Host copies of the values (data for the kernel, never a decision on the graph).
    pub fn values(&self) -> KernelValues {
        let s = |t: &Tensor<3>| to_vec(t.clone())[0];
        let v = |t: &Vec3T<3>| [s(&t.x), s(&t.y), s(&t.z)];
        let comps: Vec<Vec<f64>> = self.cells.iter().flat_map(|c| c.iter().map(|t| to_vec(t.clone()))).collect();
        let m = comps[0].len();
        KernelValues {
            pix0: v(&self.pix0),
            fdet: v(&self.fdet),
            sdet: v(&self.sdet),
            odet: v(&self.odet),
            pixel: s(&self.pixel),
            close: s(&self.close),
            distance: s(&self.distance),
            scale: s(&self.scale),
            bg: s(&self.bg),
            n: [s(&self.n[0]), s(&self.n[1]), s(&self.n[2])],
            kahn: s(&self.kahn),
            lambda: to_vec(self.lambda.clone()),
            factor: to_vec(self.factor.clone()),
            cells: (0..m).map(|o| std::array::from_fn(|v| std::array::from_fn(|i| comps[3 * v + i][o]))).collect(),
            fgrid: self.fgrid.as_ref().map(|g| to_vec(g.clone())).unwrap_or_default(),
        }
    }

    /// Σ g · inputs over every input (g held constant): its gradient with respect to anything
    /// upstream of the inputs is the chain rule through the kernel.
    pub fn surrogate(&self, g: &KernelValues) -> Tensor<1> {
        let dev = &self.target;
        let sc = |t: &Tensor<3>, k: f64| t.clone().reshape([1]) * k;
        let v3 = |t: &Vec3T<3>, k: &V3| sc(&t.x, k[0]) + sc(&t.y, k[1]) + sc(&t.z, k[2]);
        let vec = |t: &Tensor<1>, k: &[f64]| (t.clone() * dev.tensor(k.to_vec(), [k.len()])).sum();
        let mut acc = v3(&self.pix0, &g.pix0) + v3(&self.fdet, &g.fdet) + v3(&self.sdet, &g.sdet) + v3(&self.odet, &g.odet);
        for (t, k) in [(&self.pixel, g.pixel), (&self.close, g.close), (&self.distance, g.distance), (&self.scale, g.scale), (&self.bg, g.bg), (&self.kahn, g.kahn)] {
            acc = acc + sc(t, k);
        }
        for i in 0..3 {
            acc = acc + sc(&self.n[i], g.n[i]);
        }
        acc = acc + vec(&self.lambda, &g.lambda) + vec(&self.factor, &g.factor);
        for v in 0..3 {
            for i in 0..3 {
                let k: Vec<f64> = g.cells.iter().map(|c| c[v][i]).collect();
                acc = acc + vec(&self.cells[v][i], &k);
            }
        }
        if let Some(fg) = &self.fgrid {
            if !g.fgrid.is_empty() {
                acc = acc + vec(fg, &g.fgrid);
            }
        }
        acc
    }
}

/// Adjoints of `vec3::rotate_axis(w, k, theta)` = k (k.w)(1 - c) + w c + (k x w) s for the
/// output adjoint `g`: (d/dw, d/dk, d/dtheta).
fn rotation_backward(w: V3, k: V3, theta: f64, g: V3) -> (V3, V3, f64) {
    let (s, c) = theta.sin_cos();
    let (kg, kw) = (vec3::dot(k, g), vec3::dot(k, w));
    let g_w: V3 = {
        let gk = vec3::cross(g, k);
        std::array::from_fn(|i| (1.0 - c) * kg * k[i] + c * g[i] + s * gk[i])
    };
    let g_k: V3 = {
        let wg = vec3::cross(w, g);
        std::array::from_fn(|i| (1.0 - c) * (kw * g[i] + kg * w[i]) + s * wg[i])
    };
    let g_theta = s * kw * kg - s * vec3::dot(w, g) + c * vec3::dot(vec3::cross(k, w), g);
    (g_w, g_k, g_theta)
}

/// Incident direction and polarization frame of one source.
struct SourceFrame {
    inc: V3,
    e_in: V3,
    b_in: V3,
}

/// Geometry of one sub-pixel of one detector layer.
#[derive(Clone, Copy)]
struct SubPixel {
    layer: usize,
    /// Fast and slow coordinates in units of the sub-pixel size.
    cf: f64,
    cs: f64,
    air: f64,
    /// Unit vector from the sample to the sub-pixel.
    d: V3,
    omega: f64,
    capture: f64,
    /// Position on the flat detector (before the curved detector's mapping).
    flat: V3,
}

/// One experiment's kernel.
pub struct FusedKernel<'a> {
    exp: &'a Experiment,
    v: KernelValues,
    sources: Vec<SourceFrame>,
    spec: ShapeSpec,
}

impl<'a> FusedKernel<'a> {
    pub fn new(exp: &'a Experiment, p: &Geometry, dev: &Target) -> Self {
        Self::from_values(exp, KernelTensors::from_params(exp, p, dev).values())
    }

    pub fn from_values(exp: &'a Experiment, v: KernelValues) -> Self {
        let beam = &exp.beam;
        let sources = beam
            .sources
            .iter()
            .map(|src| {
                let (inc, e_in, b_in) = src.incident_frame(beam.polar_vector);
                SourceFrame { inc, e_in, b_in }
            })
            .collect();
        let cr = &exp.crystal;
        let spec = ShapeSpec { shape: cr.shape, fudge: cr.fudge, stars: [cr.a_star, cr.b_star, cr.c_star] };
        FusedKernel { exp, v, sources, spec }
    }

    fn lookup(&self) -> Option<HostLookup<'_>> {
        let st = &self.exp.structure;
        match &st.grid {
            Some(grid) if !self.v.fgrid.is_empty() => Some(HostLookup { grid, values: &self.v.fgrid, default_f: st.default_f, interpolate: st.interpolate }),
            _ => None,
        }
    }

    /// Geometry of sub-pixel (`sub_f`, `sub_s`) of layer `t` of pixel (`f`, `s`).
    #[inline(always)]
    fn sub_pixel(&self, f: f64, s: f64, t: usize, sub_f: usize, sub_s: usize) -> SubPixel {
        let det = &self.exp.detector;
        let v = &self.v;
        let os = self.exp.sampling.oversample.max(1) as f64;
        let subpix = v.pixel * (1.0 / os);
        // sub-pixel centre in units of the sub-pixel size
        let (cf, cs) = (f * os + (sub_f as f64 + 0.5), s * os + (sub_s as f64 + 0.5));
        let fd = cf * subpix;
        let sd = cs * subpix;
        let mut pos: V3 = std::array::from_fn(|i| v.fdet[i] * fd + v.sdet[i] * sd + v.pix0[i]);
        let toff = t as f64 * det.thickstep;
        if toff != 0.0 {
            pos = std::array::from_fn(|i| pos[i] + v.odet[i] * toff);
        }
        let flat = pos;
        if det.curved {
            // every pixel at the same distance, pixel coordinates read as angles
            let base = vec3::scale(det.beam_vector, v.distance);
            let r1 = vec3::rotate_axis(base, v.sdet, pos[1] / v.distance);
            pos = vec3::rotate_axis(r1, v.fdet, pos[2] / v.distance);
        }
        let air = vec3::norm(pos);
        let d = [pos[0] / air, pos[1] / air, pos[2] / air];
        let omega = solid_angle(v.pixel, v.close, air, det.point_pixel);
        let capture = if det.thick > 0.0 {
            capture_fraction(vec3::dot(d, v.odet), det.thickstep * det.mu, t)
        } else {
            1.0
        };
        SubPixel { layer: t, cf, cs, air, d, omega, capture, flat }
    }

    /// Scattering vector (1/m) of source `k` towards direction `d`, and whether the resolution
    /// cut removes it.
    #[inline]
    fn scattering(&self, k: usize, d: V3) -> (V3, bool) {
        let q = scattering_vector(&d, &self.sources[k].inc, self.v.lambda[k]);
        let dmin = self.exp.sampling.dmin;
        (q, dmin > 0.0 && beyond_resolution(&q, dmin))
    }

    fn polar(&self, k: usize, d: V3) -> f64 {
        let s = &self.sources[k];
        polarization(self.v.kahn, &s.inc, &s.e_in, &s.b_in, &d)
    }

    /// Polarization with its derivatives with respect to d (3) and the Kahn factor.
    fn polar_grad(&self, k: usize, d: V3) -> (f64, V3, f64) {
        let s = &self.sources[k];
        let c = |v: V3| v.map(Dual::<4>::cst);
        let dd: [Dual<4>; 3] = std::array::from_fn(|i| Dual::var(d[i], i));
        let p = polarization(Dual::var(self.v.kahn, 3), &c(s.inc), &c(s.e_in), &c(s.b_in), &dd);
        (p.v, [p.d[0], p.d[1], p.d[2]], p.d[3])
    }

    /// Value of pixel `idx` (slow * fpixels + fast), photons.
    pub fn pixel(&self, idx: usize) -> f64 {
        let exp = self.exp;
        let det = &exp.detector;
        let smp = &exp.sampling;
        let nopolar = exp.beam.nopolar;
        let (f, sl) = ((idx % det.fpixels) as f64, (idx / det.fpixels) as f64);
        let os = smp.oversample.max(1);
        let layers = det.thicksteps.max(1);
        let lookup = self.lookup();
        let mut isum = 0.0;
        let mut omega_first = 0.0;
        let mut capture_last = 1.0;
        let mut polar_first = if nopolar { 1.0 } else { 0.0 };
        let mut polar_found = false;
        for t in 0..layers {
            for sub_s in 0..os {
                for sub_f in 0..os {
                    let first_sub = sub_s == 0 && sub_f == 0;
                    let sp = self.sub_pixel(f, sl, t, sub_f, sub_s);
                    if t == 0 && first_sub {
                        omega_first = sp.omega;
                    }
                    if t == layers - 1 && first_sub {
                        capture_last = sp.capture;
                    }
                    let mut psum = 0.0;
                    for k in 0..self.sources.len() {
                        let (q, fail) = self.scattering(k, sp.d);
                        // the reference fixes the polarization factor at the first sub-pixel and
                        // the first source that survives the resolution cut
                        let want_first = !nopolar && !polar_found && !fail && ((first_sub && t == 0) || smp.dmin > 0.0);
                        let pol = if nopolar || !(want_first || smp.oversample_polar) { 1.0 } else { self.polar(k, sp.d) };
                        if want_first {
                            polar_first = pol;
                            polar_found = true;
                        }
                        if fail {
                            continue;
                        }
                        let mut ssum = 0.0;
                        for cell in &self.v.cells {
                            ssum += self.term(q, cell, lookup.as_ref());
                        }
                        if smp.oversample_polar && !nopolar {
                            ssum *= pol;
                        }
                        psum += ssum * self.v.factor[k];
                    }
                    if smp.oversample_thick {
                        psum *= sp.capture;
                    }
                    if smp.oversample_omega {
                        psum *= sp.omega;
                    }
                    isum += psum;
                }
            }
        }
        self.combine(isum, capture_last, polar_first, omega_first) * self.v.scale
    }

    /// Total (Bragg and background) from the sub-pixel sum and the factors the reference takes
    /// from the first sub-pixel (or last layer).
    #[inline]
    fn combine(&self, isum: f64, capture_last: f64, polar_first: f64, omega_first: f64) -> f64 {
        let smp = &self.exp.sampling;
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
        if self.v.bg != 0.0 {
            bragg + capture_last * polar_first * omega_first * self.v.bg
        } else {
            bragg
        }
    }

    /// F_cell^2 F_latt^2 of one sample.
    #[inline(always)]
    fn term(&self, q: V3, cell: &[V3; 3], lookup: Option<&HostLookup>) -> f64 {
        let hkl = [vec3::dot(q, cell[0]), vec3::dot(q, cell[1]), vec3::dot(q, cell[2])];
        let h0: V3 = hkl.map(nearest_index);
        let fr: V3 = std::array::from_fn(|i| hkl[i] - h0[i]);
        let f_latt = lattice_factor(&self.spec, fr, self.v.n);
        let f_cell = match lookup {
            Some(l) => l.value(hkl, h0),
            None => self.exp.structure.default_f,
        };
        f_cell * f_cell * f_latt * f_latt
    }

    /// The sample the reference takes the polarization factor from: its sub-pixel, and the
    /// factor with its derivatives (d, Kahn factor) for the first source there that survives the
    /// resolution cut; None when there is none (or no polarization). `first` is sub-pixel (0, 0)
    /// of layer 0.
    fn polar_first_sample(&self, f: f64, s: f64, first: &SubPixel) -> Option<(SubPixel, (f64, V3, f64))> {
        let exp = self.exp;
        if exp.beam.nopolar {
            return None;
        }
        let smp = &exp.sampling;
        let os = smp.oversample.max(1);
        for t in 0..exp.detector.thicksteps.max(1) {
            for sub_s in 0..os {
                for sub_f in 0..os {
                    let at_first = t == 0 && sub_s == 0 && sub_f == 0;
                    if !at_first && smp.dmin <= 0.0 {
                        return None;
                    }
                    let sp = if at_first { *first } else { self.sub_pixel(f, s, t, sub_f, sub_s) };
                    if let Some(k) = (0..self.sources.len()).find(|&k| !self.scattering(k, sp.d).1) {
                        return Some((sp, self.polar_grad(k, sp.d)));
                    }
                }
            }
        }
        None
    }

    /// Value of pixel `idx`, adding `g` times its gradient with respect to the inputs to `acc`
    /// (structure factors only when `acc.fgrid` is not empty).
    pub fn pixel_backward(&self, idx: usize, g: f64, acc: &mut KernelValues) -> f64 {
        let exp = self.exp;
        let det = &exp.detector;
        let smp = &exp.sampling;
        let nopolar = exp.beam.nopolar;
        let v = &self.v;
        let (f, sl) = ((idx % det.fpixels) as f64, (idx / det.fpixels) as f64);
        let os = smp.oversample.max(1);
        let layers = det.thicksteps.max(1);
        let lookup = self.lookup();
        // the factors taken from one sample, known before the sum so that every sample's
        // adjoint is known when it is evaluated
        let first = self.sub_pixel(f, sl, 0, 0, 0);
        let last = if layers > 1 { self.sub_pixel(f, sl, layers - 1, 0, 0) } else { first };
        let polar_at = self.polar_first_sample(f, sl, &first);
        let polar_first = match &polar_at {
            Some((_, (pol, _, _))) => *pol,
            None if nopolar => 1.0,
            None => 0.0,
        };
        let (omega_first, capture_last) = (first.omega, last.capture);
        let x_thick = if smp.oversample_thick { 1.0 } else { capture_last };
        let x_polar = if smp.oversample_polar { 1.0 } else { polar_first };
        let x_omega = if smp.oversample_omega { 1.0 } else { omega_first };
        let g_total = g * v.scale;
        let g_isum = g_total * x_thick * x_polar * x_omega;
        let pol_each = smp.oversample_polar && !nopolar;
        let mut isum = 0.0;
        let mut g_n = [0.0; 3];
        for t in 0..layers {
            for sub_s in 0..os {
                for sub_f in 0..os {
                    let sp = if t == 0 && sub_s == 0 && sub_f == 0 { first } else { self.sub_pixel(f, sl, t, sub_f, sub_s) };
                    let a_cap = if smp.oversample_thick { sp.capture } else { 1.0 };
                    let a_om = if smp.oversample_omega { sp.omega } else { 1.0 };
                    let g_psum = g_isum * a_cap * a_om;
                    let mut psum = 0.0;
                    let mut g_d = [0.0; 3];
                    for k in 0..self.sources.len() {
                        let (q, fail) = self.scattering(k, sp.d);
                        if fail {
                            continue;
                        }
                        let (pol, dpol_dd, dpol_dkahn) = if pol_each { self.polar_grad(k, sp.d) } else { (1.0, [0.0; 3], 0.0) };
                        let factor = v.factor[k];
                        let (ssum, g_q) = self.orientation_sum_backward(q, g_psum * pol * factor, lookup.as_ref(), acc, &mut g_n);
                        psum += ssum * pol * factor;
                        acc.factor[k] += g_psum * ssum * pol;
                        if pol_each {
                            let g_pol = g_psum * ssum * factor;
                            (0..3).for_each(|i| g_d[i] += g_pol * dpol_dd[i]);
                            acc.kahn += g_pol * dpol_dkahn;
                        }
                        // q = (d - inc) / lambda
                        let lam = v.lambda[k];
                        (0..3).for_each(|i| g_d[i] += g_q[i] / lam);
                        acc.lambda[k] -= vec3::dot(g_q, q) / lam;
                    }
                    isum += psum * a_cap * a_om;
                    let g_cap = if smp.oversample_thick { g_isum * psum * a_om } else { 0.0 };
                    let g_om = if smp.oversample_omega { g_isum * psum * a_cap } else { 0.0 };
                    self.sub_pixel_backward(&sp, g_d, g_om, g_cap, acc);
                }
            }
        }
        (0..3).for_each(|i| acc.n[i] += g_n[i]);
        let total = self.combine(isum, capture_last, polar_first, omega_first);
        acc.scale += g * total;
        // adjoints of the factors taken from one sample: through the Bragg sum (when not
        // applied per sample) and through the background
        let bg_on = v.bg != 0.0;
        let bg = |a: f64, b: f64| if bg_on { g_total * v.bg * a * b } else { 0.0 };
        let g_cl = if smp.oversample_thick { 0.0 } else { g_total * isum * x_polar * x_omega } + bg(polar_first, omega_first);
        let g_pf = if smp.oversample_polar { 0.0 } else { g_total * isum * x_thick * x_omega } + bg(capture_last, omega_first);
        let g_of = if smp.oversample_omega { 0.0 } else { g_total * isum * x_thick * x_polar } + bg(capture_last, polar_first);
        if bg_on {
            acc.bg += g_total * capture_last * polar_first * omega_first;
        }
        self.sub_pixel_backward(&first, [0.0; 3], g_of, 0.0, acc);
        self.sub_pixel_backward(&last, [0.0; 3], 0.0, g_cl, acc);
        if let Some((sp, (_, dpol_dd, dpol_dkahn))) = polar_at {
            acc.kahn += g_pf * dpol_dkahn;
            self.sub_pixel_backward(&sp, dpol_dd.map(|x| x * g_pf), 0.0, 0.0, acc);
        }
        total * v.scale
    }

    /// Σ over orientations of F^2 F_latt^2 at scattering vector `q`, and the adjoint of `q`;
    /// adds `g_ssum` times the sum's gradient to the cells, the crystal size and (when asked)
    /// the structure factors.
    #[inline]
    fn orientation_sum_backward(&self, q: V3, g_ssum: f64, lookup: Option<&HostLookup>, acc: &mut KernelValues, g_n: &mut V3) -> (f64, V3) {
        let default_f = self.exp.structure.default_f;
        let want_grid = !acc.fgrid.is_empty();
        let mut ssum = 0.0;
        let mut g_q = [0.0; 3];
        for (o, cell) in self.v.cells.iter().enumerate() {
            let hkl = [vec3::dot(q, cell[0]), vec3::dot(q, cell[1]), vec3::dot(q, cell[2])];
            let h0: V3 = hkl.map(nearest_index);
            let fr: V3 = std::array::from_fn(|i| hkl[i] - h0[i]);
            let (fl, dfl_df, dfl_dn) = lattice_factor_grad(&self.spec, fr, self.v.n);
            let (fc, dfc_dh) = match lookup {
                Some(l) => l.value_grad(hkl, h0),
                None => (default_f, [0.0; 3]),
            };
            ssum += fc * fc * fl * fl;
            // d term / d F_cell and d term / d F_latt, times the adjoint
            let c_f = g_ssum * 2.0 * fc * fl * fl;
            let c_l = g_ssum * 2.0 * fc * fc * fl;
            for i in 0..3 {
                g_n[i] += c_l * dfl_dn[i];
                let g_h = c_l * dfl_df[i] + c_f * dfc_dh[i];
                for j in 0..3 {
                    g_q[j] += g_h * cell[i][j];
                }
                let gc = &mut acc.cells[o][i];
                for j in 0..3 {
                    gc[j] += g_h * q[j];
                }
            }
            if want_grid {
                if let Some(l) = lookup {
                    l.for_each_weight(hkl, h0, |idx, w| acc.fgrid[idx] += c_f * w);
                }
            }
        }
        (ssum, g_q)
    }

    /// Back-propagate adjoints of a sub-pixel's direction, solid angle and capture fraction to
    /// the detector inputs (flat detectors).
    fn sub_pixel_backward(&self, sp: &SubPixel, mut g_d: V3, g_omega: f64, g_capture: f64, acc: &mut KernelValues) {
        let det = &self.exp.detector;
        let v = &self.v;
        let d = sp.d;
        if det.thick > 0.0 && g_capture != 0.0 {
            let par = vec3::dot(d, v.odet);
            let dcap = capture_fraction(Dual::<1>::var(par, 0), det.thickstep * det.mu, sp.layer).d[0];
            let g_par = g_capture * dcap;
            for i in 0..3 {
                g_d[i] += g_par * v.odet[i];
                acc.odet[i] += g_par * d[i];
            }
        }
        let air = sp.air;
        let mut g_air = 0.0;
        if g_omega != 0.0 {
            // the partials of the same definition the forward pass evaluates
            let om = solid_angle(Dual::<3>::var(v.pixel, 0), Dual::var(v.close, 1), Dual::var(air, 2), det.point_pixel);
            g_air += g_omega * om.d[2];
            acc.pixel += g_omega * om.d[0];
            acc.close += g_omega * om.d[1];
        }
        // d = pos / |pos|
        let dg = vec3::dot(d, g_d);
        let mut g_pos: V3 = std::array::from_fn(|i| (g_d[i] - d[i] * dg) / air + d[i] * g_air);
        if det.curved {
            g_pos = self.curve_backward(sp, g_pos, acc);
        }
        // pos = fdet fd + sdet sd + pix0 + odet toff, fd = cf pixel / os, sd = cs pixel / os
        let inv_os = 1.0 / self.exp.sampling.oversample.max(1) as f64;
        let (cf, cs) = (sp.cf * inv_os, sp.cs * inv_os);
        let (fd, sd) = (cf * v.pixel, cs * v.pixel);
        let toff = sp.layer as f64 * det.thickstep;
        for i in 0..3 {
            acc.pix0[i] += g_pos[i];
            acc.fdet[i] += g_pos[i] * fd;
            acc.sdet[i] += g_pos[i] * sd;
            acc.odet[i] += g_pos[i] * toff;
        }
        acc.pixel += cf * vec3::dot(g_pos, v.fdet) + cs * vec3::dot(g_pos, v.sdet);
    }

    /// Back-propagate through the curved detector's mapping: pos = rot(rot(beam D, sdet,
    /// flat_y / D), fdet, flat_z / D). Adds the axis and distance adjoints to `acc` and returns
    /// the adjoint of the flat position.
    fn curve_backward(&self, sp: &SubPixel, g_pos: V3, acc: &mut KernelValues) -> V3 {
        let v = &self.v;
        let dist = v.distance;
        let base = vec3::scale(self.exp.detector.beam_vector, dist);
        let (t1, t2) = (sp.flat[1] / dist, sp.flat[2] / dist);
        let r1 = vec3::rotate_axis(base, v.sdet, t1);
        let (g_r1, g_fdet, g_t2) = rotation_backward(r1, v.fdet, t2, g_pos);
        let (g_base, g_sdet, g_t1) = rotation_backward(base, v.sdet, t1, g_r1);
        for i in 0..3 {
            acc.fdet[i] += g_fdet[i];
            acc.sdet[i] += g_sdet[i];
        }
        acc.distance += vec3::dot(g_base, self.exp.detector.beam_vector) - (g_t1 * sp.flat[1] + g_t2 * sp.flat[2]) / (dist * dist);
        [0.0, g_t1 / dist, g_t2 / dist]
    }

    /// Values of `pixels` and Σ_p g_p d value_p / d inputs, over `threads` worker threads.
    /// Pixels are split into a fixed number of contiguous blocks (independent of the thread
    /// count) whose gradients are summed in block order, so results are deterministic.
    pub fn backward(&self, pixels: &[usize], g: &[f64], with_grid: bool, threads: usize) -> (Vec<f64>, KernelValues) {
        let grid_len = if with_grid { self.v.fgrid.len() } else { 0 };
        // per-block structure-factor buffers are the memory cost: at most ~256 MB of them
        let max_blocks = if grid_len > 0 { (32_000_000 / grid_len).max(1) } else { usize::MAX };
        let blocks = (pixels.len() / 2048).clamp(1, 64).min(max_blocks);
        let per = pixels.len().div_ceil(blocks).max(1);
        let work = || -> Vec<(Vec<f64>, KernelValues)> {
            pixels
                .par_chunks(per)
                .zip(g.par_chunks(per))
                .map(|(px, gs)| {
                    let mut acc = self.v.zeros_like(with_grid);
                    let values = px.iter().zip(gs).map(|(&idx, &gp)| self.pixel_backward(idx, gp, &mut acc)).collect();
                    (values, acc)
                })
                .collect()
        };
        let parts = crate::engine::plan::run(threads, work);
        let mut total = self.v.zeros_like(with_grid);
        let mut values = Vec::with_capacity(pixels.len());
        for (v, acc) in parts {
            values.extend(v);
            total.add(&acc);
        }
        (values, total)
    }

    /// For every pixel, its value and its gradient with respect to the inputs (flattened as
    /// [`KernelValues::to_flat`], no structure factors), handed to `fold(acc, value, gradient)`
    /// over a fixed number of contiguous pixel blocks whose accumulators are returned in order.
    pub fn per_pixel_gradients<A: Send>(&self, pixels: &[usize], threads: usize, init: impl Fn() -> A + Sync, fold: impl Fn(&mut A, usize, f64, &[f64]) + Sync) -> Vec<A> {
        let blocks = (pixels.len() / 2048).clamp(1, 64);
        let per = pixels.len().div_ceil(blocks).max(1);
        crate::engine::plan::run(threads, || {
            pixels
                .par_chunks(per)
                .enumerate()
                .map(|(b, px)| {
                    let mut acc = init();
                    for (i, &idx) in px.iter().enumerate() {
                        let mut g = self.v.zeros_like(false);
                        let value = self.pixel_backward(idx, 1.0, &mut g);
                        fold(&mut acc, b * per + i, value, &g.to_flat());
                    }
                    acc
                })
                .collect()
        })
    }

    /// Values of `pixels` on `threads` worker threads.
    pub fn forward(&self, pixels: &[usize], threads: usize) -> Vec<f64> {
        crate::engine::plan::run(threads, || pixels.par_iter().with_min_len(256).map(|&i| self.pixel(i)).collect())
    }
}
