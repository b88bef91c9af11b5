//! Chunked, batched rendering of the detector image.
//!
//! A batch is pixels x sources x orientations (phi steps x mosaic domains), looped over
//! detector layers and sub-pixels; pixels, sources and orientations are all split into chunks
//! so that no tensor holds more than `chunk_elements` values, whatever the image size and the
//! sampling. Every parameter that can be refined enters as a tensor ([`Geometry`]), so the same
//! code yields gradients on an autodiff device.

use burn::tensor::{Bool, Int, Tensor};

use crate::experiment::Experiment;
use crate::engine::device::{to_vec, Target};
use crate::model::geometry::Geometry;
use crate::physics::constants::R_E_SQR;
use crate::physics::water_background_per_fluence;
use crate::physics::structure::{grid_position, neighbourhood_incomplete, outside_range, tricubic_weights};
use crate::engine::plan::DEFAULT_CHUNK_ELEMENTS;
use crate::physics::{beyond_resolution, capture_fraction, frac_index, scattering_vector, lattice_factor, polarization, solid_angle, ShapeSpec, Vec3T};

/// The renderer: host-side constants and the batch plan for one experiment on one device.
pub struct Renderer<'a> {
    pub exp: &'a Experiment,
    pub target: Target,
    pub chunk_elements: usize,
    n_orient: usize,
    /// Worker threads for `render_image` (each renders whole pixel chunks).
    pub threads: usize,
    /// How `render_image` evaluates forward renders.
    pub engine: Engine,
}

pub use crate::config::Engine;

impl Engine {
    /// What runs a forward render on `target` (never `Auto`), or an error naming why this
    /// engine cannot run there. Autodiff targets always take the tensor path: burn
    /// differentiates it.
    pub fn resolve(self, target: &Target) -> crate::error::Result<Engine> {
        use crate::error::Error;
        if target.is_autodiff() {
            return Ok(Engine::Tensor);
        }
        match self {
            Engine::Auto if target.adapter.is_some() => Ok(Engine::Gpu),
            Engine::Auto if target.is_cpu_f64() => Ok(Engine::Fused),
            Engine::Auto | Engine::Tensor => Ok(Engine::Tensor),
            Engine::Fused if target.on_gpu => Err(Error::new("-engine fused: the fused kernel runs on the CPU (use -device cpu, or -engine gpu)")),
            Engine::Fused if !target.is_cpu_f64() => Err(Error::new("-engine fused: the fused kernel computes in float64 (use -precision f64, or -engine tensor)")),
            Engine::Fused => Ok(Engine::Fused),
            Engine::Gpu if target.adapter.is_none() => Err(Error::new("-engine gpu: the lattice-sum kernel needs the GPU device (-device gpu)")),
            Engine::Gpu => Ok(Engine::Gpu),
        }
    }
}

/// Per-source host data for one source chunk.
struct SourceChunk {
    inc: Vec3T<3>,
    e_in: Vec3T<3>,
    b_in: Vec3T<3>,
    lambda: Tensor<3>,
    start: usize,
    n: usize,
}

impl<'a> Renderer<'a> {
    pub fn new(exp: &'a Experiment, device: &Target) -> Self {
        Renderer {
            exp,
            target: device.clone(),
            chunk_elements: match &device.adapter {
                Some(adapter) => crate::engine::gpu::batch_elements(adapter),
                None => DEFAULT_CHUNK_ELEMENTS,
            },
            n_orient: exp.crystal.phisteps * exp.crystal.mosaic_umats.len().max(1),
            threads: 1,
            engine: Engine::Auto,
        }
    }

    /// Evaluate forward renders with `engine`; an error when the device cannot run it.
    pub fn with_engine(mut self, engine: Engine) -> crate::error::Result<Self> {
        engine.resolve(&self.target)?;
        self.engine = engine;
        Ok(self)
    }

    /// The engine that runs this renderer's forward renders.
    fn running(&self) -> Engine {
        // with_engine checked the choice, and Auto always resolves
        self.engine.resolve(&self.target).unwrap_or(Engine::Tensor)
    }

    /// Use `n` worker threads in `render_image` (0: one per available core).
    pub fn with_threads(mut self, n: usize) -> Self {
        self.threads = crate::engine::plan::resolve(n);
        self
    }

    pub fn with_chunk_elements(mut self, n: usize) -> Self {
        self.chunk_elements = n.max(1);
        self
    }

    /// Whether pixel `idx` is inside the ROI (see [`Experiment::in_roi`]).
    pub fn in_roi(&self, idx: usize) -> bool {
        self.exp.in_roi(idx)
    }

    /// Whether pixel `idx` is rendered (see [`Experiment::is_rendered`]).
    pub fn is_rendered(&self, idx: usize) -> bool {
        self.exp.is_rendered(idx)
    }

    /// Indices (slow * fpixels + fast) of the pixels that are rendered.
    pub fn rendered_pixels(&self) -> Vec<usize> {
        let d = &self.exp.detector;
        (0..d.fpixels * d.spixels).filter(|&i| self.is_rendered(i)).collect()
    }

    /// The rendered pixels in blocks of at most `n`, produced lazily (no list of every pixel).
    fn rendered_blocks(&self, n: usize) -> impl Iterator<Item = Vec<usize>> + '_ {
        let d = &self.exp.detector;
        let total = d.fpixels * d.spixels;
        let mut next = 0usize;
        std::iter::from_fn(move || {
            let mut block = Vec::with_capacity(n.min(1 << 16));
            while next < total && block.len() < n {
                if self.is_rendered(next) {
                    block.push(next);
                }
                next += 1;
            }
            (!block.is_empty()).then_some(block)
        })
    }

    /// Source and orientation chunk sizes, and how many pixels fit in one batch.
    fn plan(&self) -> (usize, usize, usize) {
        let s = self.exp.beam.sources.len().max(1);
        let m = self.n_orient.max(1);
        let budget = self.chunk_elements;
        let sc = s.min(budget).max(1);
        let mc = m.min((budget / sc).max(1)).max(1);
        let pc = (budget / (sc * mc)).max(1);
        (sc, mc, pc)
    }

    /// Number of pixels per batch.
    pub fn pixel_chunk(&self) -> usize {
        self.plan().2
    }

    fn source_chunks(&self, sc: usize) -> Vec<SourceChunk> {
        let b = &self.exp.beam;
        let dev = &self.target;
        b.sources
            .chunks(sc)
            .enumerate()
            .map(|(ci, chunk)| {
                let n = chunk.len();
                let mut inc = [vec![], vec![], vec![]];
                let mut ein = [vec![], vec![], vec![]];
                let mut bin = [vec![], vec![], vec![]];
                let mut lam = vec![];
                for s in chunk {
                    let (i, ev, bv) = s.incident_frame(b.polar_vector);
                    for k in 0..3 {
                        inc[k].push(i[k]);
                        ein[k].push(ev[k]);
                        bin[k].push(bv[k]);
                    }
                    lam.push(s.lambda);
                }
                let mk = |v: &[Vec<f64>; 3]| {
                    Vec3T::new(dev.tensor(v[0].clone(), [1, n, 1]), dev.tensor(v[1].clone(), [1, n, 1]), dev.tensor(v[2].clone(), [1, n, 1]))
                };
                SourceChunk {
                    inc: mk(&inc),
                    e_in: mk(&ein),
                    b_in: mk(&bin),
                    lambda: dev.tensor(lam, [1, n, 1]),
                    start: ci * sc,
                    n,
                }
            })
            .collect()
    }

    /// Render the whole image (fast index fastest), in photons per pixel. Pixels outside the
    /// ROI or masked are zero.
    pub fn render_image(&self, params: &Geometry, progress: impl FnMut(usize, usize)) -> Vec<f64> {
        let d = &self.exp.detector;
        let mut image = vec![0.0; d.fpixels * d.spixels];
        self.render_into(params, progress, |idx, v| image[idx] = v);
        image
    }

    /// As [`Renderer::render_image`], stored in single precision as the float image file is.
    pub fn render_image_f32(&self, params: &Geometry, progress: impl FnMut(usize, usize)) -> Vec<f32> {
        let d = &self.exp.detector;
        let mut image = vec![0.0f32; d.fpixels * d.spixels];
        self.render_into(params, progress, |idx, v| image[idx] = v as f32);
        image
    }

    /// Render every rendered pixel, handing each value to `sink(index, value)` on this thread.
    /// Blocks of pixels are evaluated on `threads` worker threads.
    pub fn render_into(&self, params: &Geometry, progress: impl FnMut(usize, usize), sink: impl FnMut(usize, f64)) {
        if self.target.on_gpu {
            let what = if self.running() == Engine::Gpu { "lattice-sum kernel" } else { "batched tensor path" };
            crate::engine::gpu::with_dispatch_count(what, || self.render_blocks(params, progress, sink));
        } else {
            self.render_blocks(params, progress, sink);
        }
    }

    fn render_blocks(&self, params: &Geometry, mut progress: impl FnMut(usize, usize), mut sink: impl FnMut(usize, f64)) {
        let total = {
            let d = &self.exp.detector;
            match &self.exp.mask {
                // the ROI box clipped to the detector
                None => {
                    let span = |lo: i64, hi: i64, n: usize| (hi.min(n as i64 - 1) - lo.max(0) + 1).max(0) as usize;
                    span(d.roi[0], d.roi[1], d.fpixels) * span(d.roi[2], d.roi[3], d.spixels)
                }
                Some(_) => (0..d.fpixels * d.spixels).filter(|&i| self.is_rendered(i)).count(),
            }
        };
        if self.running() == Engine::Gpu {
            if let Some(adapter) = &self.target.adapter {
                // the lattice-sum kernel: geometry computed once, the image read back once
                let values = crate::engine::fused::KernelTensors::from_params(self.exp, params, &self.target).values();
                crate::engine::gpu::GpuLatticeSum::new(self.exp, &values, adapter).render(progress, sink);
                return;
            }
        }
        let threads = self.threads.max(1).min(total.max(1));
        let fused = self.running() == Engine::Fused;
        // with several threads each gets its share of the memory budget
        let per_thread = Renderer {
            exp: self.exp,
            target: self.target.clone(),
            chunk_elements: (self.chunk_elements / threads).max(1),
            n_orient: self.n_orient,
            threads: 1,
            engine: self.engine,
        };
        let kernel = fused.then(|| crate::engine::fused::FusedKernel::new(self.exp, params, &self.target));
        let block = if fused { 4096 } else { per_thread.pixel_chunk() };
        let evaluate = |pixels: &[usize]| -> Vec<f64> {
            match &kernel {
                Some(k) => pixels.iter().map(|&idx| k.pixel(idx)).collect(),
                None => to_vec(per_thread.render_pixels(params, pixels)),
            }
        };
        // workers of the pool evaluate blocks; this thread hands their values to the sink as
        // they arrive (a bounded channel keeps memory bounded)
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<usize>, Vec<f64>)>(threads * 2);
        let blocks = self.rendered_blocks(block);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                use rayon::prelude::*;
                crate::engine::plan::run(threads, || {
                    blocks.par_bridge().for_each_with(tx, |tx, pixels| {
                        // burn-ndarray runs each operation on one thread: parallelism is per block
                        let values = evaluate(&pixels);
                        let _ = tx.send((pixels, values));
                    })
                })
            });
            let mut done = 0;
            for (pixels, values) in rx {
                for (&idx, v) in pixels.iter().zip(values) {
                    sink(idx, v);
                }
                done += pixels.len();
                progress(done, total);
            }
        });
    }

    /// Render the given pixels (indices slow * fpixels + fast). Returns one value per pixel,
    /// carrying the autodiff graph when the parameters do.
    pub fn render_pixels(&self, p: &Geometry, pixels: &[usize]) -> Tensor<1> {
        let (det, smp, beam, dev) = (&self.exp.detector, &self.exp.sampling, &self.exp.beam, &self.target);
        let np = pixels.len();
        let (sc, mc, _) = self.plan();
        let os = smp.oversample.max(1);
        let fidx: Vec<f64> = pixels.iter().map(|&i| (i % det.fpixels) as f64).collect();
        let sidx: Vec<f64> = pixels.iter().map(|&i| (i / det.fpixels) as f64).collect();
        let fi = dev.tensor(fidx, [np, 1, 1]);
        let si = dev.tensor(sidx, [np, 1, 1]);
        let subpix = p.pixel_size.clone() * (1.0 / os as f64);
        let sources = self.source_chunks(sc);
        let orient_chunks: Vec<(usize, usize)> =
            (0..self.n_orient).step_by(mc).map(|start| (start, mc.min(self.n_orient - start))).collect();
        let zeros = || dev.zeros([np, 1, 1]);
        let mut isum = zeros();
        let mut omega_first = zeros();
        let mut capture_last = dev.ones([np, 1, 1]);
        let mut polar_first = if beam.nopolar { dev.ones([np, 1, 1]) } else { zeros() };
        let mut polar_found: Tensor<3, Bool> = zeros().greater_elem(1.0);
        let need_polar_first = !beam.nopolar;
        let last_layer = det.thicksteps.max(1) - 1;
        // weight / mean(weight), shape [1, S, 1]
        let source_factor = p.source_weights.as_ref().map(|w| {
            let n = w.dims()[0];
            (w.clone() * (n as f64) / w.clone().sum()).reshape([1, n, 1])
        });
        for t in 0..det.thicksteps.max(1) {
            for sub_s in 0..os {
                for sub_f in 0..os {
                    let first_sub = sub_s == 0 && sub_f == 0;
                    let (dvec, omega, capture) = self.sub_pixel(p, (&fi, &si), &subpix, t, (sub_f, sub_s));
                    if t == 0 && first_sub {
                        omega_first = omega.clone();
                    }
                    if t == last_layer && first_sub {
                        capture_last = capture.clone();
                    }
                    let mut psum = zeros();
                    for src in &sources {
                        // scattering vector (1/m) for every pixel x source
                        let q = scattering_vector(&dvec.arr(), &src.inc.arr(), src.lambda.clone() * p.lambda_scale.clone());
                        let fail: Option<Tensor<3, Bool>> = (smp.dmin > 0.0).then(|| beyond_resolution(&q, smp.dmin));
                        let q = Vec3T::from_arr(q);
                        let pol = if beam.nopolar {
                            None
                        } else {
                            Some(polarization(p.kahn.clone(), &src.inc.arr(), &src.e_in.arr(), &src.b_in.arr(), &dvec.arr()))
                        };
                        // the reference fixes the polarization factor at the first sub-pixel and
                        // the first source that survives the resolution cut
                        if need_polar_first && (first_sub && t == 0 || fail.is_some()) {
                            let pol = pol.clone().unwrap();
                            for s in 0..src.n {
                                let ps = pol.clone().slice([0..np, s..s + 1, 0..1]);
                                let pass = match &fail {
                                    Some(f) => f.clone().slice([0..np, s..s + 1, 0..1]).bool_not(),
                                    None => dev.ones([np, 1, 1]).greater_elem(0.5),
                                };
                                let newly = pass.clone().bool_and(polar_found.clone().bool_not());
                                polar_first = polar_first.mask_where(newly, ps);
                                polar_found = polar_found.bool_or(pass);
                            }
                        }
                        let mut ssum = dev.zeros([np, src.n, 1]);
                        for &(start, len) in &orient_chunks {
                            ssum = ssum + self.lattice_terms(p, &q, start, len).sum_dim(2);
                        }
                        if let Some(f) = fail {
                            ssum = ssum.mask_fill(f, 0.0);
                        }
                        if smp.oversample_polar {
                            if let Some(pol) = pol {
                                ssum = ssum * pol;
                            }
                        }
                        if let Some(w) = &source_factor {
                            ssum = ssum * w.clone().narrow(1, src.start, src.n);
                        }
                        psum = psum + ssum.sum_dim(1);
                    }
                    if smp.oversample_thick {
                        psum = psum * capture;
                    }
                    if smp.oversample_omega {
                        psum = psum * omega;
                    }
                    isum = isum + psum;
                }
            }
        }
        self.combine(p, isum, (omega_first, capture_last, polar_first)).reshape([np])
    }

    /// The pixel values from the sum over samples: the first-sample factors (solid angle,
    /// capture fraction, polarization) applied where they were not applied per sample, the
    /// water background, and the normalisation.
    fn combine(&self, p: &Geometry, isum: Tensor<3>, (omega_first, capture_last, polar_first): (Tensor<3>, Tensor<3>, Tensor<3>)) -> Tensor<3> {
        let smp = &self.exp.sampling;
        let bg_per_fluence = water_background_per_fluence(smp.water_size);
        let first_factors = capture_last.clone() * polar_first.clone() * omega_first.clone();
        let mut bragg = isum;
        if !smp.oversample_thick {
            bragg = bragg * capture_last;
        }
        if !smp.oversample_polar {
            bragg = bragg * polar_first;
        }
        if !smp.oversample_omega {
            bragg = bragg * omega_first;
        }
        let total = if bg_per_fluence != 0.0 { bragg + first_factors * p.fluence.clone() * bg_per_fluence } else { bragg };
        // r_e^2 first: in float32 the fluence times a large sum can exceed the range
        let value = total * (R_E_SQR / smp.steps as f64) * p.fluence.clone();
        value
    }
    /// Direction, solid angle and sensor capture fraction of sub-pixel (`sub_f`, `sub_s`) of
    /// detector layer `t`, for every pixel of a chunk (fast and slow indices `idx`).
    fn sub_pixel(&self, p: &Geometry, idx: (&Tensor<3>, &Tensor<3>), subpix: &Tensor<3>, t: usize, (sub_f, sub_s): (usize, usize)) -> (Vec3T<3>, Tensor<3>, Tensor<3>) {
        let (det, dev) = (&self.exp.detector, &self.target);
        let (fi, si) = idx;
        let np = fi.dims()[0];
        let os = self.exp.sampling.oversample.max(1);
        let odet_off = t as f64 * det.thickstep;
        let fdet = (fi.clone() * os as f64 + (sub_f as f64 + 0.5)) * subpix.clone();
        let sdet = (si.clone() * os as f64 + (sub_s as f64 + 0.5)) * subpix.clone();
        let mut pos = p.fdet.mul(&fdet).add(&p.sdet.mul(&sdet)).add(&p.pix0);
        if odet_off != 0.0 {
            pos = pos.add(&p.odet.map(|x| x * odet_off));
        }
        if det.curved {
            pos = self.curve(p, pos);
        }
        let airpath = pos.norm();
        let dvec = pos.div(&airpath);
        let omega = solid_angle(p.pixel_size.clone(), p.close_distance.clone(), airpath.clone(), det.point_pixel);
        let capture = if det.thick > 0.0 {
            capture_fraction(dvec.dot(&p.odet), det.thickstep * det.mu, t)
        } else {
            dev.ones([np, 1, 1])
        };
        (dvec, omega, capture)
    }

    /// Curved detector: every pixel at the same distance, pixel coordinates read as angles.
    fn curve(&self, p: &Geometry, pos: Vec3T<3>) -> Vec3T<3> {
        let det = &self.exp.detector;
        let dist = p.distance.clone();
        let base = Vec3T::new(
            dist.clone() * det.beam_vector[0],
            dist.clone() * det.beam_vector[1],
            dist.clone() * det.beam_vector[2],
        );
        let r1 = rotate_about(&base, &p.sdet, pos.y.clone() / dist.clone());
        rotate_about(&r1, &p.fdet, pos.z / dist)
    }

    /// F_cell^2 F_latt^2 for every pixel x source x orientation of one orientation chunk.
    fn lattice_terms(&self, p: &Geometry, q: &Vec3T<3>, start: usize, len: usize) -> Tensor<3> {
        let exp = self.exp;
        let cr = &exp.crystal;
        let whole = start == 0 && len == self.n_orient;
        let r = |i: usize, j: usize| -> Tensor<3> {
            let t = p.orient[i][j].clone();
            if whole {
                t
            } else {
                t.narrow(2, start, len)
            }
        };
        // rotated cell vectors for this chunk: [1,1,M] per component
        let rot = |v: &Vec3T<3>| -> Vec3T<3> {
            let comp = |i: usize| -> Tensor<3> { r(i, 0) * v.x.clone() + r(i, 1) * v.y.clone() + r(i, 2) * v.z.clone() };
            Vec3T::new(comp(0), comp(1), comp(2))
        };
        let h = q.dot(&rot(&p.a));
        let k = q.dot(&rot(&p.b));
        let l = q.dot(&rot(&p.c));
        let (fh, h0) = frac_index(h.clone());
        let (fk, k0) = frac_index(k.clone());
        let (fl, l0) = frac_index(l.clone());
        let spec = ShapeSpec { shape: cr.shape, fudge: cr.fudge, stars: [cr.a_star, cr.b_star, cr.c_star] };
        let f_latt = lattice_factor(&spec, [fh, fk, fl], [p.na.clone(), p.nb.clone(), p.nc.clone()]);
        let latt_sq = f_latt.clone() * f_latt;
        let st = &exp.structure;
        match (&p.fgrid, &st.grid) {
            (Some(fgrid), Some(grid)) => {
                let f_cell = if st.interpolate {
                    self.interpolated_f(fgrid, grid, &h, &k, &l, &h0, &k0, &l0)
                } else {
                    nearest_f(fgrid, grid, st.default_f, &h0, &k0, &l0)
                };
                f_cell.clone() * f_cell * latt_sq
            }
            _ => latt_sq * (st.default_f * st.default_f),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn interpolated_f(
        &self,
        fgrid: &Tensor<1>,
        g: &crate::io::hkl::HklGrid,
        h: &Tensor<3>,
        k: &Tensor<3>,
        l: &Tensor<3>,
        h0: &Tensor<3>,
        k0: &Tensor<3>,
        l0: &Tensor<3>,
    ) -> Tensor<3> {
        let outside = neighbourhood_incomplete(h, g.h_min, g.h_max)
            .bool_or(neighbourhood_incomplete(k, g.k_min, g.k_max))
            .bool_or(neighbourhood_incomplete(l, g.l_min, g.l_max));
        let hf = h.clone().floor().detach();
        let kf = k.clone().floor().detach();
        let lf = l.clone().floor().detach();
        let wh = tricubic_weights(h.clone() - hf.clone());
        let wk = tricubic_weights(k.clone() - kf.clone());
        let wl = tricubic_weights(l.clone() - lf.clone());
        let (k1, l1) = ((g.k_max - g.k_min + 2) as f64, (g.l_max - g.l_min + 2) as f64);
        let n = fgrid.dims()[0] as f64;
        let max_off = 3.0 * k1 * l1 + 3.0 * l1 + 3.0;
        let base = grid_position(g, hf - 1.0, kf - 1.0, lf - 1.0);
        let base = base.mask_fill(outside.clone(), 0.0).clamp(0.0, (n - 1.0 - max_off).max(0.0));
        let dims = h.dims();
        let count = dims.iter().product::<usize>();
        let mut acc: Option<Tensor<3>> = None;
        for i in 0..4 {
            for j in 0..4 {
                let wij = wh[i].clone() * wk[j].clone();
                for kk in 0..4 {
                    let off = i as f64 * k1 * l1 + j as f64 * l1 + kk as f64;
                    let idx: Tensor<1, Int> = (base.clone() + off).reshape([count]).int();
                    let vals: Tensor<3> = fgrid.clone().select(0, idx).reshape(dims);
                    let term = vals * wij.clone() * wl[kk].clone();
                    acc = Some(match acc {
                        Some(a) => a + term,
                        None => term,
                    });
                }
            }
        }
        let interp = acc.unwrap();
        // incomplete neighbourhood: nearest neighbour (or default_F) for this evaluation only
        let nearest = nearest_f(fgrid, g, self.exp.structure.default_f, h0, k0, l0);
        interp.mask_where(outside, nearest)
    }
}

/// Nearest-neighbour structure factor; indices outside the grid give `default_f`.
fn nearest_f(fgrid: &Tensor<1>, g: &crate::io::hkl::HklGrid, default_f: f64, h0: &Tensor<3>, k0: &Tensor<3>, l0: &Tensor<3>) -> Tensor<3> {
    let out = outside_range(h0, g.h_min, g.h_max).bool_or(outside_range(k0, g.k_min, g.k_max)).bool_or(outside_range(l0, g.l_min, g.l_max));
    let idx = grid_position(g, h0.clone(), k0.clone(), l0.clone());
    let idx = idx.mask_fill(out.clone(), 0.0);
    let dims = h0.dims();
    let count = dims.iter().product::<usize>();
    let vals: Tensor<3> = fgrid.clone().select(0, idx.reshape([count]).int()).reshape(dims);
    vals.mask_fill(out, default_f)
}

/// Rodrigues rotation of a vector field about an axis field by per-element angles.
fn rotate_about(v: &Vec3T<3>, axis: &Vec3T<3>, angle: Tensor<3>) -> Vec3T<3> {
    let (s, c) = (angle.clone().sin(), angle.cos());
    let d = axis.dot(v) * (c.clone().neg() + 1.0);
    let axv = axis.cross(v);
    axis.mul(&d).add(&v.mul(&c)).add(&axv.mul(&s))
}

/// Statistics the reference prints over the rendered pixels.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub max: f64,
    pub max_fast: usize,
    pub max_slow: usize,
    pub mean: f64,
    pub rms: f64,
    pub rmsd: f64,
    pub count: usize,
}

/// Statistics over the rendered pixels (max, mean, rms); the deviation is taken over every
/// pixel of the ROI, masked ones included, as the reference does.
pub fn statistics(image: &[f32], fpixels: usize, rendered: impl Fn(usize) -> bool, in_roi: impl Fn(usize) -> bool) -> Stats {
    let mut st = Stats::default();
    let (mut sum, mut sumsq) = (0.0f64, 0.0f64);
    let mut n = 0usize;
    for (i, &v) in image.iter().enumerate() {
        if !rendered(i) {
            continue;
        }
        let v = v as f64;
        if v > st.max {
            st.max = v;
            st.max_fast = i % fpixels;
            st.max_slow = i / fpixels;
        }
        sum += v;
        sumsq += v * v;
        n += 1;
    }
    st.count = n;
    st.mean = sum / n.max(1) as f64;
    st.rms = (sumsq / (n.max(2) - 1) as f64).sqrt();
    let (mut dev, mut nroi) = (0.0f64, 0usize);
    for (i, &v) in image.iter().enumerate() {
        if in_roi(i) {
            dev += (v as f64 - st.mean).powi(2);
            nroi += 1;
        }
    }
    st.rmsd = (dev / (nroi.max(2) - 1) as f64).sqrt();
    st
}
