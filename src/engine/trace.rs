//! Per-pixel trace (`-printout_pixel f s`, `-trace_pixel s f`, `-printout`).
//!
//! This is a second, independent implementation of the per-sample physics of
//! `specs/physics.md`, written as plain host-side `f64` scalar loops over a
//! [`experiment::Experiment`](crate::experiment::Experiment). It shares nothing with the tensor
//! renderer except the resolved experiment, so agreement between the traced value and the
//! rendered image checks the renderer (the test suite asserts agreement to 1e-9).
//!
//! Every line the trace prints starts with `TRACE` so it is easy to filter from the run log.

use std::io::Write;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::experiment::{Experiment, Source, RTD};
use crate::io::cfmt::fmt_g_prec;
use crate::io::hkl::HklGrid;
use crate::config::Shape;
use crate::physics::vec3::{self, V3};

// the trace shares the physics' named constants, nothing else
use crate::physics::constants::{
    AVOGADRO, GAUSS_WIDTH, POLAR_PROJ_SQ_BELOW, ROUND_NORM, R_E_SQR, SINC3_SERIES_BELOW, TOPHAT_RADIUS_SQ, WATER_F, WATER_MW,
};
/// At most this many per-sample lines are printed for one pixel (the value still uses all).
pub const MAX_SAMPLE_LINES: usize = 20_000;

/// The pixels a run asked to trace, as (fast, slow), checked against the detector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requests {
    /// `-printout` without a pixel: one summary line per rendered pixel.
    pub all: bool,
    /// Pixels to trace in full (from -printout_pixel and -trace_pixel), without duplicates.
    pub pixels: Vec<(usize, usize)>,
}

/// Resolve and validate the trace flags before anything is rendered (so a pixel off the
/// detector is an error that leaves no output file behind).
impl Requests {
    /// Nothing to print.
    pub fn is_empty(&self) -> bool {
        !self.all && self.pixels.is_empty()
    }
}

pub fn requests(cfg: &Config, exp: &Experiment) -> Result<Requests> {
    let d = &exp.detector;
    let check = |flag: &str, f: i64, s: i64| -> Result<(usize, usize)> {
        if f < 0 || s < 0 || f >= d.fpixels as i64 || s >= d.spixels as i64 {
            return Err(Error::new(format!(
                "{flag}: pixel (fast {f}, slow {s}) is outside the {} x {} detector",
                d.fpixels, d.spixels
            )));
        }
        Ok((f as usize, s as usize))
    };
    let mut r = Requests::default();
    if let Some([f, s]) = cfg.outputs.printout_pixel {
        r.pixels.push(check("-printout_pixel", f, s)?);
    }
    if let Some([s, f]) = cfg.outputs.trace_pixel {
        let p = check("-trace_pixel", f, s)?;
        if !r.pixels.contains(&p) {
            r.pixels.push(p);
        }
    }
    r.all = cfg.outputs.printout && cfg.outputs.printout_pixel.is_none();
    Ok(r)
}

/// Print what was requested: the per-pixel summary lines, then each full trace followed by
/// the value the renderer produced for that pixel. `image` is the rendered float64 image.
pub fn report(out: &mut dyn Write, exp: &Experiment, req: &Requests, image: &[f64]) {
    if req.all {
        let _ = writeln!(out, "pixel values (fast slow photons):");
        for idx in (0..exp.detector.fpixels * exp.detector.spixels).filter(|&i| exp.is_rendered(i)) {
            let fp = exp.detector.fpixels;
            let _ = writeln!(out, "{:4} {:4} : {}", idx % fp, idx / fp, g(image[idx]));
        }
    }
    for &(f, s) in &req.pixels {
        let v = trace_pixel(exp, f, s, Some(&mut *out));
        let rendered = image[s * exp.detector.fpixels + f];
        let rel = if v != 0.0 { (rendered - v).abs() / v.abs() } else { (rendered - v).abs() };
        let _ = writeln!(out, "TRACE image value  {}  (renderer; relative difference {rel:.3e})", g(rendered));
    }
}

/// The pixel value (photons) computed by the scalar implementation, without printing.
pub fn pixel_value(exp: &Experiment, fast: usize, slow: usize) -> f64 {
    trace_pixel(exp, fast, slow, None)
}

/// One crystal orientation: phi step, mosaic domain, rotated cell vectors (m).
struct Orientation {
    phi_deg: f64,
    domain: usize,
    a: V3,
    b: V3,
    c: V3,
}

fn orientations(exp: &Experiment) -> Vec<Orientation> {
    let c = &exp.crystal;
    let mut out = Vec::new();
    for p in 0..c.phisteps.max(1) {
        let phi = c.phi0 + c.phistep * p as f64;
        // spindle rotation first (none at exactly phi = 0), then the domain's rotation
        let spin = |v: V3| if phi != 0.0 { vec3::rotate_axis(v, c.spindle, phi) } else { v };
        let (a, b, cc) = (spin(c.a), spin(c.b), spin(c.c));
        for (m, u) in c.mosaic_umats.iter().enumerate() {
            let dom = |v: V3| if c.mosaic_spread > 0.0 { vec3::apply_umat(u, v) } else { v };
            out.push(Orientation { phi_deg: phi * RTD, domain: m, a: dom(a), b: dom(b), c: dom(cc) });
        }
    }
    out
}

/// sin(N pi f) / sin(pi f) with f the offset from the nearest integer (N at f = 0).
fn sincg(f: f64, n: f64) -> f64 {
    let x = std::f64::consts::PI * f;
    if x == 0.0 {
        return n;
    }
    (n * x).sin() / x.sin()
}

/// 3 (sin x - x cos x) / x^3 as a function of x^2, with its power series for small x
/// (the closed form cancels catastrophically there).
fn sphere_transform(x2: f64) -> f64 {
    if x2 < SINC3_SERIES_BELOW {
        // 3 * sum_{n>=1} (-1)^(n+1) 2n x^(2n-2) / (2n+1)!
        let mut sum = 0.0;
        let mut pow = 1.0;
        let mut fact = 6.0; // (2n+1)! for n = 1
        for n in 1..8u32 {
            let sign = if n % 2 == 1 { 1.0 } else { -1.0 };
            sum += sign * 2.0 * n as f64 * pow / fact;
            pow *= x2;
            fact *= ((2 * n + 2) * (2 * n + 3)) as f64;
        }
        return 3.0 * sum;
    }
    let x = x2.sqrt();
    3.0 * (x.sin() - x * x.cos()) / (x2 * x)
}

/// Numbers in the trace: C's %.15g.
fn g(x: f64) -> String {
    fmt_g_prec(x, 15)
}

fn round_half_up(x: f64) -> f64 {
    (x - 0.5).ceil()
}

/// Structure factor of one sample: nearest reflection, or tricubic Lagrange interpolation on
/// the 4x4x4 neighbourhood when it lies wholly inside the grid.
fn structure_factor(exp: &Experiment, hkl: V3, hkl0: [f64; 3]) -> (f64, &'static str) {
    let st = &exp.structure;
    let Some(g) = st.grid.as_ref().filter(|g| g.count > 0) else {
        return (st.default_f, "default_F");
    };
    let nearest = |g: &HklGrid| -> f64 {
        let inside = |x: f64, lo: i32, hi: i32| x >= lo as f64 && x <= hi as f64;
        if inside(hkl0[0], g.h_min, g.h_max) && inside(hkl0[1], g.k_min, g.k_max) && inside(hkl0[2], g.l_min, g.l_max) {
            g.lookup(hkl0[0] as i32, hkl0[1] as i32, hkl0[2] as i32).unwrap_or(st.default_f)
        } else {
            st.default_f
        }
    };
    if !st.interpolate {
        return (nearest(g), "nearest");
    }
    let ok = |x: f64, lo: i32, hi: i32| x >= lo as f64 + 2.0 && x <= hi as f64 - 2.0;
    if !(ok(hkl[0], g.h_min, g.h_max) && ok(hkl[1], g.k_min, g.k_max) && ok(hkl[2], g.l_min, g.l_max)) {
        return (nearest(g), "nearest (incomplete neighbourhood)");
    }
    // Lagrange basis on the nodes floor(x)-1 .. floor(x)+2
    let basis = |x: f64| -> (i32, [f64; 4]) {
        let base = x.floor();
        let nodes = [base - 1.0, base, base + 1.0, base + 2.0];
        let mut w = [1.0; 4];
        for (j, wj) in w.iter_mut().enumerate() {
            for (m, &xm) in nodes.iter().enumerate() {
                if m != j {
                    *wj *= (x - xm) / (nodes[j] - xm);
                }
            }
        }
        (base as i32 - 1, w)
    };
    let (h1, wh) = basis(hkl[0]);
    let (k1, wk) = basis(hkl[1]);
    let (l1, wl) = basis(hkl[2]);
    let mut f = 0.0;
    for (i, whi) in wh.iter().enumerate() {
        for (j, wkj) in wk.iter().enumerate() {
            for (m, wlm) in wl.iter().enumerate() {
                let v = g.lookup(h1 + i as i32, k1 + j as i32, l1 + m as i32).unwrap_or(st.default_f);
                f += whi * wkj * wlm * v;
            }
        }
    }
    (f, "interpolated")
}

/// Lattice transform for fractional offsets (f_h, f_k, f_l).
fn lattice_transform(exp: &Experiment, frac: V3) -> f64 {
    let c = &exp.crystal;
    let nnn = c.na * c.nb * c.nc;
    match c.shape {
        Shape::Square => sincg(frac[0], c.na) * sincg(frac[1], c.nb) * sincg(frac[2], c.nc),
        Shape::Round => {
            let r2 = (frac[0] * c.na).powi(2) + (frac[1] * c.nb).powi(2) + (frac[2] * c.nc).powi(2);
            let x2 = std::f64::consts::PI.powi(2) * c.fudge * r2;
            nnn * ROUND_NORM * sphere_transform(x2)
        }
        Shape::Gauss | Shape::Tophat => {
            let dv = vec3::add(
                vec3::add(vec3::scale(c.a_star, frac[0]), vec3::scale(c.b_star, frac[1])),
                vec3::scale(c.c_star, frac[2]),
            );
            let rad2 = vec3::dot(dv, dv) * nnn * nnn;
            if c.shape == Shape::Gauss {
                nnn * (-rad2 * c.fudge / GAUSS_WIDTH).exp()
            } else if rad2 * c.fudge < TOPHAT_RADIUS_SQ {
                nnn
            } else {
                0.0
            }
        }
    }
}

/// Kahn polarization factor for incident unit vector `inc` and diffracted unit vector `d`.
fn polarization(exp: &Experiment, inc: V3, d: V3) -> f64 {
    let b = &exp.beam;
    let cos2t = vec3::dot(inc, d);
    let sin2t_sq = 1.0 - cos2t * cos2t;
    let bvec = vec3::unitize(vec3::cross(b.polar_vector, inc)).0;
    let evec = vec3::unitize(vec3::cross(inc, bvec)).0;
    let (pe, pb) = (vec3::dot(d, evec), vec3::dot(d, bvec));
    let r2 = pe * pe + pb * pb;
    let cos2psi = if r2 < POLAR_PROJ_SQ_BELOW { 1.0 } else { (pe * pe - pb * pb) / r2 };
    0.5 * (1.0 + cos2t * cos2t - b.kahn_factor * cos2psi * sin2t_sq)
}

/// Position of a sub-pixel (flat detector, then the curved-detector mapping if asked).
fn subpixel_position(exp: &Experiment, f: usize, s: usize, sub_f: usize, sub_s: usize, layer: usize) -> V3 {
    let d = &exp.detector;
    let os = exp.sampling.oversample.max(1);
    let sub = d.pixel_size / os as f64;
    let fd = sub * (f * os + sub_f) as f64 + sub / 2.0;
    let sd = sub * (s * os + sub_s) as f64 + sub / 2.0;
    let od = layer as f64 * d.thickstep;
    let mut p = d.pix0;
    p = vec3::add(p, vec3::scale(d.fdet, fd));
    p = vec3::add(p, vec3::scale(d.sdet, sd));
    if od != 0.0 {
        p = vec3::add(p, vec3::scale(d.odet, od));
    }
    if d.curved {
        // every pixel at `distance`: the lab y and z coordinates are read as angles
        let base = vec3::scale(d.beam_vector, d.distance);
        let r1 = vec3::rotate_axis(base, d.sdet, p[1] / d.distance);
        p = vec3::rotate_axis(r1, d.fdet, p[2] / d.distance);
    }
    p
}

/// Where a trace goes (nowhere when only the value is wanted), and how many per-sample lines
/// it has printed or left out.
struct Log<'a> {
    out: Option<&'a mut dyn Write>,
    printed: usize,
    skipped: usize,
}

/// Print a line to the log's writer; the arguments are not evaluated when there is none.
macro_rules! say {
    ($log:expr, $($arg:tt)*) => {
        if let Some(w) = $log.out.as_mut() {
            let _ = writeln!(w, $($arg)*);
        }
    };
}

/// Trace one pixel; prints every intermediate quantity to `out` when given, and returns the
/// pixel value in photons (0 for pixels outside the ROI or masked).
pub fn trace_pixel(exp: &Experiment, f: usize, s: usize, out: Option<&mut dyn Write>) -> f64 {
    let mut log = Log { out, printed: 0, skipped: 0 };
    let det = &exp.detector;
    let smp = &exp.sampling;
    say!(log, "TRACE pixel fast {f} slow {s} (index {})", s * det.fpixels + f);
    if !exp.is_rendered(s * exp.detector.fpixels + f) {
        say!(log, "TRACE   outside the ROI or masked: not rendered, value 0");
        say!(log, "TRACE pixel value  0");
        return 0.0;
    }
    say!(
        log,
        "TRACE   steps = {} = {} sources x {} domains x {} phi steps x {}^2 sub-pixels; {} detector layer(s)",
        smp.steps,
        exp.beam.sources.len(),
        exp.crystal.mosaic_umats.len(),
        exp.crystal.phisteps,
        smp.oversample.max(1),
        det.thicksteps.max(1)
    );
    let sums = sum_samples(exp, f, s, &mut log);
    if log.skipped > 0 {
        say!(log, "TRACE   ({} further sample lines not printed; they are included below)", log.skipped);
    }
    pixel_total(exp, &sums, &mut log)
}

/// The sum of F_cell^2 F_latt^2 over a pixel's samples, and the per-pixel factors taken from
/// its first sub-pixel (solid angle), last layer (capture) and first kept sample (polarization).
struct PixelSums {
    isum: f64,
    omega_first: f64,
    capture_last: f64,
    polar_first: Option<f64>,
}

/// Loop over sensor layers and sub-pixels, and within each over sources and orientations.
fn sum_samples(exp: &Experiment, f: usize, s: usize, log: &mut Log) -> PixelSums {
    let det = &exp.detector;
    let beam = &exp.beam;
    let smp = &exp.sampling;
    let os = smp.oversample.max(1);
    let layers = det.thicksteps.max(1);
    let orients = orientations(exp);
    let mean_w = beam.sources.iter().map(|x| x.weight).sum::<f64>() / beam.sources.len().max(1) as f64;
    let mut sums = PixelSums {
        isum: 0.0,
        omega_first: 0.0,
        capture_last: 1.0,
        polar_first: if beam.nopolar { Some(1.0) } else { None },
    };
    for t in 0..layers {
        for sub_s in 0..os {
            for sub_f in 0..os {
                let first_sub = sub_s == 0 && sub_f == 0;
                let (dvec, omega, capture) = sub_pixel_factors(exp, f, s, sub_f, sub_s, t, log);
                if t == 0 && first_sub {
                    sums.omega_first = omega;
                }
                if t == layers - 1 && first_sub {
                    sums.capture_last = capture;
                }
                let mut psum = 0.0;
                for (si, src) in beam.sources.iter().enumerate() {
                    if let Some(ssum) = source_sum(exp, si, src, dvec, &orients, mean_w, &mut sums.polar_first, log) {
                        psum += ssum;
                    }
                }
                if smp.oversample_thick {
                    psum *= capture;
                }
                if smp.oversample_omega {
                    psum *= omega;
                }
                sums.isum += psum;
            }
        }
    }
    sums
}

/// Diffracted unit vector, solid angle and capture fraction of one sub-pixel of one layer.
fn sub_pixel_factors(exp: &Experiment, f: usize, s: usize, sub_f: usize, sub_s: usize, t: usize, log: &mut Log) -> (V3, f64, f64) {
    let det = &exp.detector;
    let pos = subpixel_position(exp, f, s, sub_f, sub_s, t);
    let airpath = vec3::norm(pos);
    let dvec = [pos[0] / airpath, pos[1] / airpath, pos[2] / airpath];
    let omega = if det.point_pixel {
        1.0 / (airpath * airpath)
    } else {
        det.pixel_size * det.pixel_size / (airpath * airpath) * det.close_distance / airpath
    };
    let capture = if det.thick > 0.0 {
        let cosp = vec3::dot(dvec, det.odet);
        let k = det.thickstep * det.mu / cosp;
        (-(t as f64) * k).exp() - (-((t + 1) as f64) * k).exp()
    } else {
        1.0
    };
    say!(
        log,
        "TRACE   layer {t} sub-pixel (fast {sub_f}, slow {sub_s}): position {} {} {} m  airpath {} m",
        g(pos[0]), g(pos[1]), g(pos[2]), g(airpath)
    );
    say!(
        log,
        "TRACE     diffracted {} {} {}  omega {} sr  capture fraction {}",
        g(dvec[0]), g(dvec[1]), g(dvec[2]), g(omega), g(capture)
    );
    (dvec, omega, capture)
}

/// One source's sum over orientations for diffracted direction `dvec` (None when -dmin cuts
/// it); records the first kept polarization factor in `polar_first`.
#[allow(clippy::too_many_arguments)]
fn source_sum(
    exp: &Experiment,
    si: usize,
    src: &Source,
    dvec: V3,
    orients: &[Orientation],
    mean_w: f64,
    polar_first: &mut Option<f64>,
    log: &mut Log,
) -> Option<f64> {
    let beam = &exp.beam;
    let smp = &exp.sampling;
    let inc = vec3::scale(src.dir, -1.0);
    let dq = vec3::sub(dvec, inc);
    let q = [dq[0] / src.lambda, dq[1] / src.lambda, dq[2] / src.lambda];
    let stol = 0.5 * vec3::norm(q);
    let cut = smp.dmin > 0.0 && stol * smp.dmin > 0.5;
    let polar = if beam.nopolar { 1.0 } else { polarization(exp, inc, dvec) };
    if polar_first.is_none() && !cut {
        *polar_first = Some(polar);
    }
    say!(
        log,
        "TRACE     source {si}: lambda {} m  incident {} {} {}  q {} {} {} 1/m  stol {} 1/m  polar {}{}",
        g(src.lambda), g(inc[0]), g(inc[1]), g(inc[2]), g(q[0]), g(q[1]), g(q[2]), g(stol), g(polar),
        if cut { "  (beyond -dmin: skipped)" } else { "" }
    );
    if cut {
        return None;
    }
    let mut ssum = 0.0;
    for o in orients {
        let hkl = [vec3::dot(q, o.a), vec3::dot(q, o.b), vec3::dot(q, o.c)];
        let hkl0 = [round_half_up(hkl[0]), round_half_up(hkl[1]), round_half_up(hkl[2])];
        let frac = [hkl[0] - hkl0[0], hkl[1] - hkl0[1], hkl[2] - hkl0[2]];
        let f_latt = lattice_transform(exp, frac);
        let (f_cell, how) = structure_factor(exp, hkl, hkl0);
        let term = f_cell * f_cell * f_latt * f_latt;
        ssum += term;
        if log.printed < MAX_SAMPLE_LINES {
            log.printed += 1;
            say!(
                log,
                "TRACE       phi {} deg domain {}: hkl {:.6} {:.6} {:.6}  hkl0 {} {} {}  F_cell {} ({how})  F_latt {}  F_cell^2 F_latt^2 {}",
                g(o.phi_deg), o.domain, hkl[0], hkl[1], hkl[2], hkl0[0] as i64, hkl0[1] as i64, hkl0[2] as i64, g(f_cell), g(f_latt), g(term)
            );
        } else {
            log.skipped += 1;
        }
    }
    if smp.oversample_polar {
        ssum *= polar;
    }
    if beam.use_weights {
        ssum *= if mean_w > 0.0 { src.weight / mean_w } else { 0.0 };
    }
    Some(ssum)
}

/// Apply the per-pixel factors, add the water background and scale to photons.
fn pixel_total(exp: &Experiment, sums: &PixelSums, log: &mut Log) -> f64 {
    let beam = &exp.beam;
    let smp = &exp.sampling;
    let steps = smp.steps as f64;
    let (isum, omega_first, capture_last) = (sums.isum, sums.omega_first, sums.capture_last);
    let polar_first = sums.polar_first.unwrap_or(0.0);
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
    let i_bg = WATER_F * WATER_F * R_E_SQR * beam.fluence * smp.water_size.powi(3) * 1e6 * AVOGADRO / WATER_MW;
    let total = bragg + i_bg * capture_last * polar_first * omega_first;
    let value = total * beam.fluence * R_E_SQR / steps;
    say!(log, "TRACE   sum of F_cell^2 F_latt^2 {}  water I_bg {}", g(isum), g(i_bg));
    say!(
        log,
        "TRACE   per-pixel factors: omega {}{}  polar {}{}  capture fraction {}{}",
        g(omega_first),
        if smp.oversample_omega { " (per sub-pixel)" } else { "" },
        g(polar_first),
        if smp.oversample_polar { " (per sample)" } else { "" },
        g(capture_last),
        if smp.oversample_thick { " (per sub-pixel)" } else { "" }
    );
    say!(log, "TRACE   fluence {} photons/m^2  r_e^2 {} m^2  I/steps {}", g(beam.fluence), g(R_E_SQR), g(total / steps));
    say!(log, "TRACE pixel value  {}", g(value));
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_series_joins_closed_form() {
        for x2 in [0.0099f64, 0.0101, 0.005] {
            let x = x2.sqrt();
            let exact = 3.0 * (x.sin() - x * x.cos()) / (x2 * x);
            assert!((sphere_transform(x2) - exact).abs() < 1e-12, "{x2}");
        }
        assert_eq!(sphere_transform(0.0), 1.0);
    }

    #[test]
    fn sincg_limit_and_value() {
        assert_eq!(sincg(0.0, 5.0), 5.0);
        let f: f64 = 0.2;
        let want = (5.0 * std::f64::consts::PI * f).sin() / (std::f64::consts::PI * f).sin();
        assert!((sincg(f, 5.0) - want).abs() < 1e-15);
    }
}
